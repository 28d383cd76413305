"""`PreparePool`: `Preparer`s in prepare processes (`pipeline.prepare_processes`), so that one
connector uses more than one core when the Python path prepares: the GIL would serialise it with
everything else. Batches come back in the order handed in.

What crosses the process boundary is small: the record's bytes and coordinates in, and out the
`Preparer`'s answers. Both ways the records travel as plain tuples in one `marshal` blob
(`_ship`, `_pack`): the connector's process unpickles what the prepare processes send while
holding the GIL, and a pickled NamedTuple costs it ~8 µs a record there against ~1.5 µs for the
blob. The hand-off is ~26,000 instructions a typical record all told, a quarter of what
preparing it takes, so each step makes as few objects as it can (bench/README.md, "The prepare
hand-off"). Each batch's answer brings back the counts of what each path prepared in it, added to
the pool's `counts` here (connector.ports.PrepareCounts).
"""

from __future__ import annotations

import marshal
import multiprocessing
import signal
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeAlias

from connector.config import DecodeSettings, RoutingSettings, TransformSettings
from connector.errors import PrepareProcessLost
from connector.models import Identifiers, SourceCoordinates, new_tuple
from connector.ports import PrepareCounts
from connector.prepare.preparer import Preparation, Prepared, Preparer, Ready, Record
from connector.process.gc_tuning import tune_for_streaming
from connector.process.lifetime import die_with_parent

# What a prepare process sends back for a batch: its Readies as one marshal blob of plain tuples,
# in order, and the rest (rare: undecodable, rejected, skipped) by their index, pickled as they are;
# with them, the batch's counts by path and reason.
_Packed: TypeAlias = tuple[bytes, list[tuple[int, Prepared]]]
_Answer: TypeAlias = tuple[_Packed, dict[tuple[str, str], int]]


class PreparePool:
    """`Preparer`s in `processes` prepare processes; same `submit`, results arrive later."""

    def __init__(
        self,
        decode: DecodeSettings,
        transform: TransformSettings,
        processes: int,
        routing: RoutingSettings | None = None,
        *,
        counts: PrepareCounts | None = None,
    ) -> None:
        self.counts: PrepareCounts = Counter() if counts is None else counts
        self._executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
            initializer=_start_prepare_process,
            initargs=(decode, transform, routing),
        )
        # Start every process now (imports take a second or two), not on the first records.
        warm = [self._executor.submit(_ready) for _ in range(processes)]
        for future in warm:
            future.result()
        # Watched here too: the executor hears of a dead process in its manager thread, which
        # blocks for good when the process died in the middle of writing an answer (this process
        # holds the pipe's other end open), and then no batch would ever end.
        self._processes = list(self._executor._processes.values())

    def lost(self) -> bool:
        """A prepare process has exited: its batches will not come back."""
        return any(process.exitcode is not None for process in self._processes)

    def check(self) -> None:
        """Raise PrepareProcessLost when a prepare process has died, even with no batch out (the
        pipeline asks every step; a batch waited for asks while it waits)."""
        if self.lost():
            raise _process_lost()

    def submit(self, records: Sequence[Record], now_ms: int) -> Preparation:
        try:
            return _PoolBatch(
                self._executor.submit(_prepare_here, _ship(records), now_ms),
                self.lost,
                self.counts,
            )
        except BrokenProcessPool:
            raise _process_lost() from None

    def close(self) -> None:
        if not self.lost():
            self._executor.shutdown(wait=True, cancel_futures=True)
            return
        # The executor's threads may be stuck (see __init__): stop the other prepare processes and
        # leave them; the connector exits at once after a lost one (PrepareProcessLost.hard_exit).
        for process in self._processes:
            process.kill()
        self._executor.shutdown(wait=False, cancel_futures=True)


class _PoolBatch:
    __slots__ = ("_counts", "_future", "_lost")

    def __init__(
        self, future: Future[_Answer], lost: Callable[[], bool], counts: PrepareCounts | None
    ) -> None:
        self._future = future
        self._lost = lost
        self._counts = counts  # the pool's, until this batch's are added to it

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout_s: float) -> None:
        wait([self._future], timeout_s)

    def result(self) -> list[Prepared]:
        while not self._future.done():
            if self._lost():
                raise _process_lost()
            wait([self._future], _LOST_CHECK_S)
        try:
            packed, counts = self._future.result()
        except BrokenProcessPool:
            raise _process_lost() from None
        if self._counts is not None:
            self._counts.update(counts)
            self._counts = None
        return _unpack(packed)


_LOST_CHECK_S = 0.1  # how often a batch waited for asks whether its process still lives


def _process_lost() -> PrepareProcessLost:
    return PrepareProcessLost(
        "a prepare process died (killed, or out of memory?); nothing was committed past "
        "its records, so they are read again when the connector restarts"
    )


_preparer: Preparer | None = None  # the prepare process's own


def _start_prepare_process(
    decode: DecodeSettings, transform: TransformSettings, routing: RoutingSettings | None
) -> None:
    # The connector's process decides when to stop: a Ctrl-C to the process group or a SIGTERM
    # to every process must not break the pool under a draining pipeline. A killed connector
    # takes its prepare processes with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(signal.SIGKILL)
    global _preparer  # noqa: PLW0603 - one Preparer per prepare process, built once
    _preparer = Preparer(decode, transform, routing)
    tune_for_streaming()


def _ready() -> bool:
    return _preparer is not None


def _prepare_here(shipped: bytes, now_ms: int) -> _Answer:
    if _preparer is None:  # the initializer always runs first; this keeps mypy honest
        raise RuntimeError("prepare process without a Preparer")
    prepared = _preparer.prepare(_receive(shipped), now_ms)
    counts = dict(_preparer.counts)
    _preparer.counts.clear()
    return _pack(prepared), counts


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
    rows = marshal.loads(blob)  # noqa: S302 - our own prepare process's output, see _pack
    prepared: list[Prepared] = [
        new_tuple(Ready, (eid, name, ms, payload, warns, conn, new_tuple(Identifiers, (k, n, d))))
        for eid, name, ms, payload, warns, conn, k, n, d in rows  # k, n, d: the Identifiers
    ]
    for index, item in others:  # in ascending order, so each lands where it was
        prepared.insert(index, item)
    return prepared
