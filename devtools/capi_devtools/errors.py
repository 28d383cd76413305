"""The dev tools' own error: a `ConnectorError`, so the CLI prints it and exits with its code."""

from __future__ import annotations

from connector.errors import ConnectorError


class LocalInfraError(ConnectorError):
    """The local development infrastructure (Java, Maven, the broker) is missing or failed."""

    exit_code = 3
