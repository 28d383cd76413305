"""Decode → transform → the event's JSON, for a batch of records: the CPU-bound part of the path.

`Preparer` does it in the calling thread: the common records natively, without the GIL
(connector/prepare/native.py), the others in Python; `PreparePool` (connector/prepare/pool.py)
does the same in prepare processes. A batch's results come back in the order of its records: a
`Ready` (the JSON the sink sends plus what the result record needs), an `Undecodable`, or the
transform's `Rejected` or `Skipped`. It counts the records each path prepared, and why the
native path declined the others (`counts`, connector.ports.PrepareCounts), once a batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final, NamedTuple, Protocol, TypeAlias

import orjson

from connector.config import DecodeSettings, RoutingSettings, TransformSettings
from connector.errors import DecodeError
from connector.models import Identifiers, Rejected, Skipped, SourceCoordinates, new_tuple
from connector.ports import PrepareCounts
from connector.prepare import native as native_prepare
from connector.prepare.decode import ConfluentDecoder, build_decoder, confluent_schema_id
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

# The counts' keys (connector.ports.PrepareCounts).
NATIVE: Final = ("native", "")
OFF: Final = ("python", "off")  # the native path is off for the run
NO_ROUTE: Final = ("python", "no_route")  # taken natively, but no connection: Python rejects it
_NO_ROUTE_CODE: Final = -1


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
        counts: PrepareCounts | None = None,
    ) -> None:
        routing = routing or RoutingSettings()
        self._decoder = build_decoder(decode)
        self._transformer = Transformer(transform)
        self._router = Router(routing)
        self.counts: PrepareCounts = Counter() if counts is None else counts
        # The common case in Rust when built and the settings are ones it follows; Python
        # decides every record it declines (connector/prepare/native.py).
        decoder = self._decoder
        self._native = (
            native_prepare.NativePrepare(
                transform,
                routing,
                self._transformer,
                decode=decode,
                writer_schemas=decoder.fetched if isinstance(decoder, ConfluentDecoder) else None,
            )
            if native and native_prepare.used(decode, transform)
            else None
        )
        self._unknown_schema = native_prepare.UNKNOWN_SCHEMA
        self._declined: dict[int, tuple[str, str]] = {_NO_ROUTE_CODE: NO_ROUTE}  # code → key

    @property
    def native(self) -> bool:
        """Whether the native path takes the records it can."""
        return self._native is not None

    def prepare(self, records: Sequence[Record], now_ms: int) -> list[Prepared]:
        if self._native is None:
            self.counts[OFF] += len(records)
            return [self._prepare_one(value, c, now_ms, 0) for value, c in records]
        route = self._router.route_by_key
        identifiers = self._native.identifiers
        prepared: list[Prepared] = []
        declined: dict[int, int] = {}  # decline code → records
        for (value, coordinates), fast in zip(
            records, self._native.prepare_batch(records, now_ms), strict=True
        ):
            if isinstance(fast, int):
                declined[fast] = declined.get(fast, 0) + 1
                prepared.append(self._prepare_one(value, coordinates, now_ms, fast))
                continue
            event_id, event_name, event_time_ms, payload, kinds, emails, route_key, lost = fast
            connection = route(coordinates.topic, route_key)
            if connection is None:  # no route: the Python path rejects it with the reason
                declined[_NO_ROUTE_CODE] = declined.get(_NO_ROUTE_CODE, 0) + 1
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
                    identifiers(kinds, emails, lost),
                ),
            )
            prepared.append(ready)
        self._count(len(records), declined)
        return prepared

    def _count(self, records: int, declined: dict[int, int]) -> None:
        """Add a batch to the counts: the records the native path took, the others by reason."""
        counts = self.counts
        taken = records - sum(declined.values())
        if taken:
            counts[NATIVE] += taken
        for code, count in declined.items():
            key = self._declined.get(code)
            if key is None:
                key = self._declined[code] = ("python", native_prepare.reason(code))
            counts[key] += count

    def _prepare_one(
        self, value: bytes | None, coordinates: SourceCoordinates, now_ms: int, declined: int
    ) -> Prepared:
        """One record the Python way; `declined`: why the native path declined it, if it did."""
        try:
            event = self._decoder.decode(value)
        except DecodeError as exc:
            if declined & self._unknown_schema:
                self._learn_schema(value)
            return Undecodable(exc.reason, exc.message)
        if declined and self._native is not None:
            if declined & self._unknown_schema:  # the decoder has looked the id up: plan it
                self._learn_schema(value)
                declined |= native_prepare.TEACHES  # and teach what the record's next would ask
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

    def _learn_schema(self, value: bytes | None) -> None:
        """Plan the schema id of a Confluent-framed record the decoder has just looked up."""
        schema_id = None if value is None else confluent_schema_id(value)
        if self._native is not None and schema_id is not None:
            self._native.learn_schema(schema_id)

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
