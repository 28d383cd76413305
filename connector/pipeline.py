"""The one place where the stages meet: source → decode → transform → sink → result → commit.

Two threads. The Kafka thread (the caller's) polls, writes result records and commits; it
decodes and transforms too, or hands that to worker processes (`pipeline.prepare_processes`) and
takes their batches back in order. The HTTP thread runs the sink's event loop. The sink's
answers cross back through a queue.

A record is *settled* when Spotify acknowledged it and its result record is acknowledged by the
broker, or when its failure (result and dead letter) is acknowledged by the broker. Results are
written a batch at a time (every answer collected in a turn of the loop; every failure of the
batches taken from the preparer): a batch settles together, once all its records are acknowledged.
Offsets are committed only up to the first unsettled record of each partition (connector.offsets).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from operator import attrgetter

from connector.config import Settings
from connector.errors import InternalFailure
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates, SourceRecord
from connector.offsets import Commit, OffsetBook, PartitionOffsets
from connector.ports import (
    Partitions,
    RecordSource,
    ResultEntry,
    ResultStore,
    Sink,
    SinkFactory,
)
from connector.prepare import native as native_prepare
from connector.prepare.pool import PreparePool
from connector.prepare.preparer import Preparation, Preparer, Ready
from connector.process import cpus
from connector.process.loop_thread import LoopThread
from connector.results.delivery import failed_result, sent_result
from connector.sink import SendOutcome, SinkItem, StrippedField

log = logging.getLogger(__name__)

_POLL_TIMEOUT_S = 0.05
_POLL_TIMEOUT_PREPARING_S = 0.005  # batches are in the workers: come back for them soon
# A caught-up pipeline commits at once, but not more often than this: the commit just sent is
# "new" until the broker acknowledges it.
_CAUGHT_UP_COMMIT_GAP_S = 0.1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True, eq=False)
class Pending:
    """A record handed to the sink: what its result needs once Spotify answers."""

    envelope: SourceRecord
    offsets: PartitionOffsets
    ready: Ready


@dataclass
class PipelineStatus:
    """What health checks and the CLI read; written by the Kafka thread only."""

    started_at_ms: int = field(default_factory=now_ms)
    assigned: int = 0
    paused: int = 0
    unsettled: int = 0
    auth_failing: bool = False  # some connection's token is refused
    failing_connections: tuple[str, ...] = ()  # which ones
    stripped_fields: tuple[StrippedField, ...] = ()  # fields Spotify refuses, learned
    broker_down: bool = False
    last_progress_ms: int = field(default_factory=now_ms)
    heartbeat_ms: int = field(default_factory=now_ms)  # the Kafka thread's last turn of its loop
    settled_by_status: Counter[str] = field(default_factory=Counter)
    consumed: int = 0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)  # records not yet settled
    rebalances: Counter[str] = field(default_factory=Counter)  # assigned, revoked, lost
    commits: int = 0  # partition offsets the broker acknowledged
    commit_failures: int = 0  # commit calls the broker refused (retried by the next commit)


class Pipeline:
    """Runs records from `source` through the preparer and the sink made by `sink_factory`, and
    their results into `writer`. It is the source's listener (`connector.ports.SourceEvents`).

    `connector.assemble.build_pipeline` wires the real parts; tests may give in-memory ones.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        source: RecordSource,
        writer: ResultStore,
        sink_factory: SinkFactory,
        on_results: Callable[[Sequence[DeliveryResult]], None] | None = None,
        record_filter: Callable[[SourceRecord], bool] | None = None,
        coordinates_for: Callable[[SourceRecord], SourceCoordinates] | None = None,
    ) -> None:
        self.settings = settings
        self.status = PipelineStatus()
        self._preparer: Preparer | PreparePool | None = None  # opened by run()
        # Batches handed to the preparer, oldest first, with the records they came from.
        self._preparing: deque[tuple[Preparation, list[tuple[SourceRecord, PartitionOffsets]]]] = (
            deque()
        )
        self._native_prepare = native_prepare.used(settings.decode, settings.transform)
        self._prepare_processes = cpus.prepare_processes(
            settings.pipeline.prepare_processes, native=self._native_prepare
        )
        # Two batches a worker keep each busy; in the Kafka thread every batch is done at once.
        self._max_preparing = max(1, 2 * self._prepare_processes)
        self._book = OffsetBook()
        self._outcomes: queue.SimpleQueue[Sequence[SendOutcome]] = queue.SimpleQueue()
        self._on_results = on_results  # each batch of settled records' results, once
        self._record_filter = record_filter  # records it refuses are skipped (settled, no result)
        # The identity of a record for its event id and result: replay gives the original
        # coordinates of a dead letter, so a replayed event keeps its derived event id.
        self._identity: Callable[[SourceRecord], SourceCoordinates] = (
            coordinates_for or _own_coordinates
        )
        self._writer = writer
        self._source = source
        self._sink_factory = sink_factory
        self._sink_context: AbstractAsyncContextManager[Sink] | None = None
        self._http = LoopThread()
        self._sink: Sink | None = None
        self._backpressure = False
        self._stop_by: float | None = None  # monotonic deadline of the stop, once stopping

    @property
    def prepare_processes(self) -> int:
        """Worker processes decoding and transforming (0: the Kafka thread does)."""
        return self._prepare_processes

    @property
    def native_prepare(self) -> bool:
        """Whether the native path prepares the common records (connector/prepare/native.py)."""
        return self._native_prepare

    # --- lifecycle ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then drain and commit within the drain timeout.

        One budget bounds the stop: the drain, and the revoke wait of the consumer's close, end
        by `drain_timeout_s` after the stop. A failed sink task or HTTP thread raises at once
        (nothing would settle any more) and the stop waits for nothing.
        """
        with self._http:
            self._sink = self._http.run(self._open_sink())
            preparer = self._preparer = self._open_preparer()
            try:
                self._source.start(self)
                last_commit = time.monotonic()
                while not stop.is_set():
                    self._step()
                    since = time.monotonic() - last_commit
                    if since >= self.settings.pipeline.commit_interval_s or (
                        since >= _CAUGHT_UP_COMMIT_GAP_S and self._caught_up()
                    ):
                        self._commit(wait=False)
                        self._refresh_lag()
                        last_commit = time.monotonic()
                self._stop_by = time.monotonic() + self.settings.pipeline.drain_timeout_s
                self._drain()
                self._commit(wait=True)
            except BaseException:
                self._stop_by = time.monotonic()
                raise
            finally:
                self._source.close()
                self._writer.close()
                preparer.close()
                self._http.run(self._close_sink(), timeout_s=30)
        log.info("pipeline stopped", extra={"settled": dict(self.status.settled_by_status)})

    def _open_preparer(self) -> Preparer | PreparePool:
        s = self.settings
        if self._prepare_processes == 0:
            return Preparer(s.decode, s.transform, s.routing)
        return PreparePool(s.decode, s.transform, self._prepare_processes, s.routing)

    async def _open_sink(self) -> Sink:
        context = self._sink_context = self._sink_factory(self._outcomes.put)
        return await context.__aenter__()

    async def _close_sink(self) -> None:
        if self._sink_context is not None:
            await self._sink_context.__aexit__(None, None, None)

    def _step(self) -> None:
        self._raise_internal_failure()
        if self._preparer is not None:
            self._preparer.check()  # a dead prepare worker stops the run even with nothing to do
        if len(self._preparing) < self._max_preparing:
            timeout_s = _POLL_TIMEOUT_PREPARING_S if self._preparing else _POLL_TIMEOUT_S
            envelopes = self._source.poll(self.settings.pipeline.poll_batch_size, timeout_s)
            if envelopes:
                self._handle(envelopes)
        else:  # every worker has work: wait for the oldest batch, not for Kafka
            self._preparing[0][0].wait(_POLL_TIMEOUT_PREPARING_S)
        self._take_prepared(keep=self._max_preparing)
        self._collect_outcomes()
        self._writer.poll()
        self._apply_backpressure()
        self._update_status()

    def _raise_internal_failure(self) -> None:
        """Without its HTTP thread or with a failed sink task, nothing settles: stop, loudly."""
        failure = self._http.failure
        if failure is not None:
            raise InternalFailure(
                f"the {self._http.name} thread failed: {type(failure).__name__}"
            ) from failure
        if self._sink is not None:
            self._sink.raise_if_failed()

    # --- records --------------------------------------------------------------------------

    def _handle(self, envelopes: list[SourceRecord]) -> None:
        batch: list[tuple[SourceRecord, PartitionOffsets]] = []
        for envelope in envelopes:
            c = envelope.coordinates
            offsets = self._book.get(c.topic, c.partition)
            if offsets is None:
                continue  # its partition was revoked after the fetch; the new owner reads it
            offsets.track(c.offset)
            if self._record_filter is not None and not self._record_filter(envelope):
                offsets.settle(c.offset)
                continue
            batch.append((envelope, offsets))
        self.status.consumed += len(envelopes)
        if batch and self._preparer is not None:
            records = [(envelope.value, self._identity(envelope)) for envelope, _ in batch]
            self._preparing.append((self._preparer.submit(records, now_ms()), batch))

    def _take_prepared(self, *, keep: int) -> None:
        """Hand prepared batches to the sink in order: those done, and (waiting for them) all
        but the newest `keep`."""
        items: list[SinkItem] = []
        failures = ResultBatch()  # records that end before the sink, written together
        while self._preparing and (len(self._preparing) > keep or self._preparing[0][0].done()):
            done, batch = self._preparing.popleft()
            for (envelope, offsets), prepared in zip(batch, done.result(), strict=True):
                c = envelope.coordinates
                if self._book.get(c.topic, c.partition) is not offsets:
                    continue  # lost while it was prepared; the new owner reads it again
                if isinstance(prepared, Ready):
                    pending = Pending(envelope, offsets, prepared)
                    items.append(
                        SinkItem(pending, prepared.event_id, prepared.payload, prepared.connection)
                    )
                else:
                    identity = self._identity(envelope)
                    result, stage = failed_result(identity, envelope, prepared, now_ms())
                    failures.add(result, envelope, stage, offsets)
        self._write(failures)
        if items and self._sink is not None:
            self._http.call(_add_all, self._sink, items)

    def _collect_outcomes(self) -> None:
        """Every answer the sink has given since the last turn, as one batch of results."""
        batch = ResultBatch()
        identity = self._identity
        while True:
            try:
                outcomes = self._outcomes.get_nowait()
            except queue.Empty:
                break
            for outcome in outcomes:
                pending = outcome.item.ref
                assert isinstance(pending, Pending)  # noqa: S101 - our own handle
                envelope = pending.envelope
                result = sent_result(identity(envelope), envelope, pending.ready, outcome)
                batch.add(result, envelope, "spotify", pending.offsets)
        self._write(batch)

    def _write(self, batch: ResultBatch) -> None:
        """Hand a batch to the store; its records settle together once all are durable."""
        if not batch.entries:
            return

        def durable() -> None:
            for offsets, settled in batch.offsets.items():
                offsets.settle_many(settled)
            results = [result for result, _, _ in batch.entries]
            for status, count in Counter(map(_status, results)).items():
                self.status.settled_by_status[status.value] += count
            self.status.last_progress_ms = now_ms()
            if self._on_results is not None:
                self._on_results(results)

        self._writer.write_batch(batch.entries, durable)

    # --- flow control and commits -----------------------------------------------------------

    def _apply_backpressure(self) -> None:
        """Pause every partition while too much is unsettled or every token is refused (one
        refused connection of several holds its own events only, up to the unsettled limit)."""
        auth_failing = self._auth_failing()
        unsettled = self._book.unsettled
        limit = self.settings.pipeline.max_unsettled
        if unsettled >= limit:
            self._backpressure = True
        elif unsettled <= limit // 2:
            self._backpressure = False
        partitions = [(p.topic, p.partition) for p in self._book]
        if self._backpressure or auth_failing:
            if len(self._source.paused) < len(partitions):
                log.info("pausing partitions", extra={"unsettled": unsettled, "auth": auth_failing})
            self._source.pause(partitions)
        elif self._source.paused:
            log.info("resuming partitions", extra={"unsettled": unsettled})
            self._source.resume(partitions)

    def _auth_failing(self) -> bool:
        return self._sink is not None and self._sink.auth_failing

    def _update_status(self) -> None:
        status = self.status
        status.heartbeat_ms = now_ms()
        status.unsettled = self._book.unsettled
        status.failing_connections = () if self._sink is None else self._sink.failing_connections
        status.auth_failing = bool(status.failing_connections)
        status.stripped_fields = () if self._sink is None else self._sink.stripped_fields
        status.paused = len(self._source.paused)
        status.assigned = len(self._book)
        if status.unsettled == 0:
            status.last_progress_ms = now_ms()

    def _caught_up(self) -> bool:
        """Everything read has settled and some partition has a commit to make."""
        return (
            self.settings.pipeline.commit_when_caught_up
            and self.status.unsettled == 0
            and any(p.next_commit() is not None for p in self._book)
        )

    def _commit(self, *, wait: bool, partitions: Sequence[PartitionOffsets] | None = None) -> None:
        chosen = list(self._book) if partitions is None else partitions
        self._source.commit([c for p in chosen if (c := p.next_commit()) is not None], wait=wait)

    def committed(self, commits: list[Commit]) -> None:
        """The broker acknowledged these commits (called inside poll or a blocking commit)."""
        self.status.commits += len(commits)
        for commit in commits:
            offsets = self._book.get(commit.topic, commit.partition)
            if offsets is not None:
                offsets.mark_committed(commit.offset)

    def commit_failed(self) -> None:
        """A commit was refused (say, during a rebalance): the next commit tries again."""
        self.status.commit_failures += 1

    def positions(self) -> dict[tuple[str, int], int]:
        """The committable offset of every assigned partition that has one."""
        return {
            (p.topic, p.partition): offset
            for p in self._book
            if (offset := p.committable()) is not None
        }

    def _refresh_lag(self) -> None:
        positions = self.positions()
        self.status.lag = self._source.lag(positions)
        if self.status.broker_down:
            self.status.broker_down = not self._source.reachable()

    def _await_settled(self, partitions: Sequence[PartitionOffsets], timeout_s: float) -> None:
        """Let the records of these partitions settle, at most `timeout_s`; the rest goes on."""
        deadline = time.monotonic() + timeout_s
        self._take_prepared(keep=0)
        while any(p.unsettled for p in partitions) and time.monotonic() < deadline:
            self.status.heartbeat_ms = now_ms()  # waiting for answers is not hanging
            self._collect_outcomes()
            self._writer.poll(0.01)
        if any(p.unsettled for p in partitions):
            log.warning("revoked with records in flight; the next owner will redeliver them")

    def _remaining_s(self, limit_s: float = math.inf) -> float:
        """`limit_s`, cut to what is left of the stop's budget once stopping."""
        if self._stop_by is None:
            return limit_s
        return max(0.0, min(limit_s, self._stop_by - time.monotonic()))

    def _drain(self) -> None:
        """Wait for in-flight requests and their outcome records, within the stop's budget."""
        self._take_prepared(keep=0)
        if self._sink is not None:
            drained = self._http.run(self._sink.flush(self._remaining_s()))
            if not drained:
                log.warning("drain timed out; unsettled records will be redelivered")
        self._collect_outcomes()
        self._writer.flush(self._remaining_s())
        self._writer.poll()

    # --- source events (inside poll or commit, on the Kafka thread) -------------------------------

    def assigned(self, partitions: Partitions) -> None:
        self.status.broker_down = False
        self.status.rebalances["assigned"] += 1
        for topic, partition in partitions:
            if self._book.get(topic, partition) is None:  # incremental: keep what we track
                self._book.assign(topic, partition)
        log.info("partitions assigned", extra={"partitions": partitions})

    def revoked(self, partitions: Partitions) -> None:
        self.status.rebalances["revoked"] += 1
        owned = [p for tp in partitions if (p := self._book.get(*tp)) is not None]
        self._await_settled(owned, self._remaining_s(self.settings.pipeline.revoke_timeout_s))
        self._commit(wait=True, partitions=owned)
        for topic, partition in partitions:
            self._book.revoke(topic, partition)
        log.info("partitions revoked", extra={"partitions": partitions})

    def lost(self, partitions: Partitions) -> None:
        self.status.rebalances["lost"] += 1
        for topic, partition in partitions:
            self._book.revoke(topic, partition)
        log.warning("partitions lost", extra={"partitions": partitions})

    def brokers_down(self) -> None:
        self.status.broker_down = True


class ResultBatch:
    """Results written together, and the offsets they settle once all are durable."""

    __slots__ = ("entries", "offsets")

    def __init__(self) -> None:
        self.entries: list[ResultEntry] = []
        self.offsets: defaultdict[PartitionOffsets, list[int]] = defaultdict(list)

    def add(
        self, result: DeliveryResult, envelope: SourceRecord, stage: str, offsets: PartitionOffsets
    ) -> None:
        self.entries.append((result, envelope, stage))
        self.offsets[offsets].append(envelope.coordinates.offset)


_own_coordinates: Callable[[SourceRecord], SourceCoordinates] = attrgetter("coordinates")
_status: Callable[[DeliveryResult], DeliveryStatus] = attrgetter("status")


def _add_all(sink: Sink, items: list[SinkItem]) -> None:
    for item in items:
        sink.add(item)
