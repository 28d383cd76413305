"""The request body, spliced from pre-encoded event JSON: events are never re-serialised."""

from __future__ import annotations

from collections.abc import Iterable

import orjson


class BodyEncoder:
    """Builds `{"conversion_events": {"capi_connection_id": ..., "events": [...]}}` as bytes."""

    __slots__ = ("_head",)

    def __init__(self, connection_id: str) -> None:
        self._head = (
            b'{"conversion_events":{"capi_connection_id":'
            + orjson.dumps(connection_id)
            + b',"events":['
        )

    def encode(self, payloads: Iterable[bytes]) -> bytes:
        return b"".join((self._head, b",".join(payloads), b"]}}"))
