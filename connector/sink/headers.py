"""The headers of every request to Spotify: the content type, and the token of the moment
(connector/sink/token.py proves it sendable before any request)."""

from __future__ import annotations

CONTENT_TYPE = {"Content-Type": "application/json"}


def request_headers(token: str) -> dict[str, str]:
    """`Authorization: Bearer <token>` and the content type."""
    return {"Authorization": f"Bearer {token}", **CONTENT_TYPE}
