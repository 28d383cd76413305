"""Decode → transform → the event's JSON, for a batch of records: the CPU-bound part of the path.

`Preparer` does it in the calling thread: the common records natively, without the GIL
(connector/native_prepare.py), the others in Python. `PreparePool` does it in worker processes
(`pipeline.prepare_processes`), so that one connector uses more than one core when the Python
path prepares: the GIL would serialise it with everything else. Either way a batch's results
come back in the order of its records, and batches in the order handed in.

What crosses the process boundary is small: the record's bytes and coordinates in, and out a
`Ready` (the JSON the sink sends plus what the result record needs), an `Undecodable` or the
transform's `Rejected` or `Skipped`. Both ways the records travel as plain tuples in one
`marshal` blob (`_ship`, `_pack`): the connector's process unpickles what the workers send while
holding the GIL, and a pickled NamedTuple costs it ~8 µs a record there against ~1.5 µs for the
blob. The hand-off is ~26,000 instructions a typical record all told, a quarter of what
preparing it takes, so each step makes as few objects as it can (bench/README.md, "The prepare
hand-off").
"""

from __future__ import annotations

import marshal
import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import NamedTuple, Protocol, TypeAlias

import orjson

from connector import native_prepare
from connector.config import DecodeSettings, RoutingSettings, TransformSettings
from connector.decode import build_decoder
from connector.errors import DecodeError, PrepareWorkerLost
from connector.gc_tuning import tune_for_streaming
from connector.lifetime import die_with_parent
from connector.models import Identifiers, Rejected, Skipped, SourceCoordinates, new_tuple
from connector.routing import Router
from connector.transform import Transformer

Record: TypeAlias = tuple[bytes | None, SourceCoordinates]  # the value and the record's identity
# What a worker sends back for a batch: its Readies as one marshal blob of plain tuples, in
# order, and the rest (rare: undecodable, rejected, skipped) by their index, pickled as they are.
_Packed: TypeAlias = tuple[bytes, list[tuple[int, "Prepared"]]]


class Ready(NamedTuple):
    """An accepted event: the sink's JSON and what its result record will say."""

    event_id: str
    event_name: str
    event_time_ms: int | None
    payload: bytes
    warnings: tuple[str, ...]
    connection: str = "default"  # the Spotify connection it goes to (connector.routing)
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
        # decides every record it declines (connector/native_prepare.py).
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
        return _DoneBatch(self.prepare(records, now_ms))

    def check(self) -> None:
        """Nothing to lose: preparing happens in the caller."""

    def close(self) -> None:
        self._decoder.close()


class PreparePool:
    """`Preparer`s in `processes` worker processes; same `submit`, results arrive later."""

    def __init__(
        self,
        decode: DecodeSettings,
        transform: TransformSettings,
        processes: int,
        routing: RoutingSettings | None = None,
    ) -> None:
        self._executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
            initializer=_start_worker,
            initargs=(decode, transform, routing),
        )
        # Start every worker now (imports take a second or two), not on the first records.
        warm = [self._executor.submit(_ready) for _ in range(processes)]
        for future in warm:
            future.result()
        # Watched here too: the executor hears of a dead worker in its manager thread, which
        # blocks for good when the worker died in the middle of writing an answer (this process
        # holds the pipe's other end open), and then no batch would ever end.
        self._processes = list(self._executor._processes.values())

    def lost(self) -> bool:
        """A worker process has exited: its batches will not come back."""
        return any(process.exitcode is not None for process in self._processes)

    def check(self) -> None:
        """Raise PrepareWorkerLost when a worker has died, even with no batch out (the pipeline
        asks every step; a batch waited for asks while it waits)."""
        if self.lost():
            raise _worker_lost()

    def submit(self, records: Sequence[Record], now_ms: int) -> Preparation:
        try:
            return _PoolBatch(
                self._executor.submit(_prepare_in_worker, _ship(records), now_ms), self.lost
            )
        except BrokenProcessPool:
            raise _worker_lost() from None

    def close(self) -> None:
        if not self.lost():
            self._executor.shutdown(wait=True, cancel_futures=True)
            return
        # The executor's threads may be stuck (see __init__): stop the other workers and leave
        # them; the process exits at once after a lost worker (PrepareWorkerLost.hard_exit).
        for process in self._processes:
            process.kill()
        self._executor.shutdown(wait=False, cancel_futures=True)


class _DoneBatch:
    __slots__ = ("_prepared",)

    def __init__(self, prepared: list[Prepared]) -> None:
        self._prepared = prepared

    def done(self) -> bool:
        return True

    def wait(self, timeout_s: float) -> None:
        """Done already."""

    def result(self) -> list[Prepared]:
        return self._prepared


class _PoolBatch:
    __slots__ = ("_future", "_lost")

    def __init__(self, future: Future[_Packed], lost: Callable[[], bool]) -> None:
        self._future = future
        self._lost = lost

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout_s: float) -> None:
        wait([self._future], timeout_s)

    def result(self) -> list[Prepared]:
        while not self._future.done():
            if self._lost():
                raise _worker_lost()
            wait([self._future], _LOST_CHECK_S)
        try:
            packed = self._future.result()
        except BrokenProcessPool:
            raise _worker_lost() from None
        return _unpack(packed)


_LOST_CHECK_S = 0.1  # how often a batch waited for asks whether its worker still lives


def _worker_lost() -> PrepareWorkerLost:
    return PrepareWorkerLost(
        "a prepare worker process died (killed, or out of memory?); nothing was committed past "
        "its records, so they are read again when the connector restarts"
    )


_worker: Preparer | None = None


def _start_worker(
    decode: DecodeSettings, transform: TransformSettings, routing: RoutingSettings | None
) -> None:
    # The connector's process decides when to stop: a Ctrl-C to the process group or a SIGTERM
    # to every process must not break the pool under a draining pipeline. A killed connector
    # takes its workers with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(signal.SIGKILL)
    global _worker  # noqa: PLW0603 - one Preparer per worker process, built once
    _worker = Preparer(decode, transform, routing)
    tune_for_streaming()


def _ready() -> bool:
    return _worker is not None


def _prepare_in_worker(shipped: bytes, now_ms: int) -> _Packed:
    if _worker is None:  # the initializer always runs first; this keeps mypy honest
        raise RuntimeError("prepare worker without a Preparer")
    return _pack(_worker.prepare(_receive(shipped), now_ms))


# marshal, both ways: plain tuples of str, bytes and int, between processes of one interpreter
# build. It refuses NamedTuples: `c[:]` is the coordinates as a plain tuple.
def _ship(records: Sequence[Record]) -> bytes:
    return marshal.dumps([(value, c[:]) for value, c in records])


def _receive(shipped: bytes) -> list[Record]:
    rows = marshal.loads(shipped)  # noqa: S302 - our own process's batch, see _ship
    return [(value, new_tuple(SourceCoordinates, coordinates)) for value, coordinates in rows]


# Identifier kinds carried, one tuple object each (at most 2^5 of them): marshal writes a shared
# object once and refers to it after, so the other side makes it once a batch, not a record.
_CARRIED: dict[tuple[str, ...], tuple[str, ...]] = {}


def _pack(prepared: list[Prepared]) -> _Packed:
    readies: list[tuple[object, ...]] = []
    others: list[tuple[int, Prepared]] = []
    carried = _CARRIED.setdefault
    for index, item in enumerate(prepared):
        if isinstance(item, Ready):
            ids = item.identifiers
            kinds = carried(ids.carried, ids.carried)
            readies.append((*item[:6], kinds, ids.email_count, ids.dropped))
        else:
            others.append((index, item))
    return marshal.dumps(readies), others


def _unpack(packed: _Packed) -> list[Prepared]:
    blob, others = packed
    rows = marshal.loads(blob)  # noqa: S302 - our own worker's output, see _pack
    prepared: list[Prepared] = [
        new_tuple(Ready, (eid, name, ms, payload, warns, conn, new_tuple(Identifiers, (k, n, d))))
        for eid, name, ms, payload, warns, conn, k, n, d in rows  # k, n, d: the Identifiers
    ]
    for index, item in others:  # in ascending order, so each lands where it was
        prepared.insert(index, item)
    return prepared
