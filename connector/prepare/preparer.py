"""Decode → transform → the event's JSON, for a batch of records: the CPU-bound part of the path.

`Preparer` does it in the calling thread: the common records natively, without the GIL
(connector/prepare/native.py), the others in Python; `PreparePool` (connector/prepare/pool.py)
does the same in prepare processes. A batch's results come back in the order of its records: a
`Ready` (the JSON the sink sends plus what the result record needs), an `Undecodable`, or the
transform's `Rejected` or `Skipped`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, TypeAlias

import orjson

from connector.config import DecodeSettings, RoutingSettings, TransformSettings
from connector.errors import DecodeError
from connector.models import Identifiers, Rejected, Skipped, SourceCoordinates, new_tuple
from connector.prepare import native as native_prepare
from connector.prepare.decode import build_decoder
from connector.prepare.routing import Router
from connector.transform import Transformer

Record: TypeAlias = tuple[bytes | None, SourceCoordinates]  # the value and the record's identity


class Ready(NamedTuple):
    """An accepted event: the sink's JSON and what its result record will say."""

    event_id: str
    event_name: str
    event_time_ms: int | None
    payload: bytes
    warnings: tuple[str, ...]
    connection: str = "default"  # the Spotify connection it goes to (connector.prepare.routing)
    identifiers: Identifiers = Identifiers()


class Undecodable(NamedTuple):
    reason: str
    message: str


Prepared: TypeAlias = Ready | Undecodable | Rejected | Skipped
_NOT_SENT = (Rejected, Skipped)  # a tuple made once: `Rejected | Skipped` is built at every use


class Preparation(Protocol):
    """A batch being prepared."""

    def done(self) -> bool: ...

    def wait(self, timeout_s: float) -> None:
        """Return when the batch is done, or after `timeout_s`."""

    def result(self) -> list[Prepared]:
        """The batch's results, waiting for them if need be."""


class Preparer:
    def __init__(
        self,
        decode: DecodeSettings,
        transform: TransformSettings,
        routing: RoutingSettings | None = None,
        *,
        native: bool = True,
    ) -> None:
        routing = routing or RoutingSettings()
        self._decoder = build_decoder(decode)
        self._transformer = Transformer(transform)
        self._router = Router(routing)
        # The common case in Rust when built and the settings are ones it follows; Python
        # decides every record it declines (connector/prepare/native.py).
        self._native = (
            native_prepare.NativePrepare(transform, routing, self._transformer)
            if native and native_prepare.used(decode, transform)
            else None
        )

    @property
    def native(self) -> bool:
        """Whether the native path takes the records it can."""
        return self._native is not None

    def prepare(self, records: Sequence[Record], now_ms: int) -> list[Prepared]:
        if self._native is None:
            return [self._prepare_one(value, c, now_ms, 0) for value, c in records]
        route = self._router.route_by_key
        identifiers = self._native.identifiers
        prepared: list[Prepared] = []
        for (value, coordinates), fast in zip(
            records, self._native.prepare_batch(records, now_ms), strict=True
        ):
            if isinstance(fast, int):
                prepared.append(self._prepare_one(value, coordinates, now_ms, fast))
                continue
            event_id, event_name, event_time_ms, payload, kinds, email_count, route_key = fast
            connection = route(coordinates.topic, route_key)
            if connection is None:  # no route: the Python path rejects it with the reason
                prepared.append(self._prepare_one(value, coordinates, now_ms, 0))
                continue
            ready: Ready = new_tuple(  # Ready's fields in order, see models.new_tuple
                Ready,
                (
                    event_id,
                    event_name,
                    event_time_ms,
                    payload,
                    (),  # warnings: the native path takes none with a warning
                    connection,
                    identifiers(kinds, email_count),
                ),
            )
            prepared.append(ready)
        return prepared

    def _prepare_one(
        self, value: bytes | None, coordinates: SourceCoordinates, now_ms: int, declined: int
    ) -> Prepared:
        """One record the Python way; `declined`: why the native path declined it, if it did."""
        try:
            event = self._decoder.decode(value)
        except DecodeError as exc:
            return Undecodable(exc.reason, exc.message)
        if declined and self._native is not None:
            self._native.learn(event, declined)
        outcome = self._transformer.transform(event, coordinates, now_ms)
        if isinstance(outcome, _NOT_SENT):
            return outcome
        spotify_event = outcome.event
        warnings = tuple(str(w) for w in outcome.warnings) if outcome.warnings else ()
        connection = self._router.route(coordinates.topic, event)
        if connection is None:
            rejection = self._router.no_route()
            return Rejected(rejection, spotify_event.event_id, spotify_event.event_name)
        ready: Ready = new_tuple(  # Ready's fields in order, see models.new_tuple
            Ready,
            (
                spotify_event.event_id,
                spotify_event.event_name,
                outcome.event_time_ms,
                orjson.dumps(spotify_event.to_wire()),  # payload
                warnings,
                connection,
                outcome.identifiers,
            ),
        )
        return ready

    def submit(self, records: Sequence[Record], now_ms: int) -> Preparation:
        return DoneBatch(self.prepare(records, now_ms))

    def check(self) -> None:
        """Nothing to lose: preparing happens in the caller."""

    def close(self) -> None:
        self._decoder.close()


class DoneBatch:
    """A batch prepared in the caller: done at once."""

    __slots__ = ("_prepared",)

    def __init__(self, prepared: list[Prepared]) -> None:
        self._prepared = prepared

    def done(self) -> bool:
        return True

    def wait(self, timeout_s: float) -> None:
        """Done already."""

    def result(self) -> list[Prepared]:
        return self._prepared
