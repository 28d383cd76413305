"""One small hierarchy. Each error says whether a retry can help; none carries PII or secrets."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""

    retriable: bool = False
    exit_code: int = 1
    hard_exit: bool = False  # exit without the interpreter's shutdown (see PrepareProcessLost)


class ConfigError(ConnectorError):
    """A setting is missing or invalid. The message names the setting, never its value."""

    exit_code = 2


class InputError(ConnectorError):
    """Input a command was given cannot be read (a file, a line of JSON)."""

    exit_code = 2


class DecodeError(ConnectorError):
    """A record's bytes are not a tracking event. The record is dead-lettered, not retried."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SchemaRegistryUnavailable(ConnectorError):
    """The Schema Registry did not answer: the record is fine, try again later."""

    retriable = True


class KafkaUnavailable(ConnectorError):
    """The Kafka cluster cannot be reached, or a topic the connector needs does not exist."""

    exit_code = 3


class InternalFailure(ConnectorError):
    """A thread or task the connector needs failed unexpectedly: stop, and let it be restarted."""


class PrepareProcessLost(ConnectorError):
    """A prepare process of `pipeline.prepare_processes` died (killed, out of memory).

    The process exits without its interpreter's shutdown (`hard_exit`): that would wait for the
    pool's threads, which a prepare process killed mid-answer can leave blocked for good."""

    hard_exit = True
