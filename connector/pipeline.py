"""The one place where the stages meet: poll, hand off, settle, commit.

Two threads. The Kafka thread (the caller's) polls, hands each batch to the preparer (in this
thread or in prepare processes, as assembly chose: `connector.prepare.choice`) and the prepared
events to the sink, writes result records and commits. The HTTP thread runs the sink
(`connector.sink_thread`), whose answers come back through a queue.

A record is *settled* when Spotify acknowledged it and its result record is acknowledged by the
broker, or when its failure (result and dead letter) is: a batch of results settles together.
Offsets are committed only up to the first unsettled record of each partition
(`connector.checkpoint`, on the rule of `connector.offsets`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from opentelemetry.trace import Span

from connector.checkpoint import Checkpoint, ResultBatch
from connector.config import Settings
from connector.models import DeliveryResult, SourceCoordinates, SourceRecord
from connector.observe.tracing import BatchSpans
from connector.offsets import Commit, PartitionOffsets
from connector.ports import (
    Partitions,
    PipelineStatus,
    RecordSource,
    ResultStore,
    SinkFactory,
    now_ms,
)
from connector.prepare.choice import PrepareChoice
from connector.prepare.pool import PreparePool
from connector.prepare.preparer import Preparation, Preparer, Ready
from connector.results.delivery import failed_result, sent_result
from connector.sink import SinkItem
from connector.sink_thread import SinkThread

log = logging.getLogger(__name__)

_POLL_TIMEOUT_S = 0.05
_POLL_TIMEOUT_PREPARING_S = 0.005  # batches are being prepared: come back for them soon


# A batch handed to the preparer, with the records it came from and its span (when traced).
Preparing = tuple[Preparation, list[tuple[SourceRecord, PartitionOffsets]], Span | None]


@dataclass(slots=True, eq=False)
class Pending:
    """A record handed to the sink: what its result needs once Spotify answers."""

    envelope: SourceRecord
    offsets: PartitionOffsets
    ready: Ready


class Pipeline:
    """Runs records from `source` through the preparer `prepare` opens and the sink made by
    `sink_factory`, and their results into `writer`. It is the source's listener
    (`connector.ports.SourceEvents`).

    `connector.assemble.build_pipeline` wires the real parts; tests may give in-memory ones.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        source: RecordSource,
        writer: ResultStore,
        sink_factory: SinkFactory,
        prepare: PrepareChoice,
        on_results: Callable[[Sequence[DeliveryResult]], None] | None = None,
        record_filter: Callable[[SourceRecord], bool] | None = None,
        coordinates_for: Callable[[SourceRecord], SourceCoordinates] | None = None,
        spans: BatchSpans | None = None,
    ) -> None:
        self.settings = settings
        self._spans = spans or BatchSpans(None, settings)  # a span per batch, when traced
        self.status = PipelineStatus()
        self.prepare = prepare
        self.status.prepared = prepare.counts  # read by the metric spotify_capi.prepare.records
        self._preparer: Preparer | PreparePool | None = None  # opened by run()
        # Batches handed to the preparer, oldest first, with their records and their span.
        self._preparing: deque[
            tuple[Preparation, list[tuple[SourceRecord, PartitionOffsets]], Span | None]
        ] = deque()
        # Two batches a prepare process keep each busy; in this thread every batch is done at once.
        self._max_preparing = max(1, 2 * prepare.processes)
        self.checkpoint = Checkpoint(settings.pipeline, source, self.status, on_results)
        self._record_filter = record_filter  # records it refuses are skipped (settled, no result)
        # The identity of a record for its event id and result: replay gives the original
        # coordinates of a dead letter, so a replayed event keeps its derived event id.
        self._identity: Callable[[SourceRecord], SourceCoordinates] = (
            coordinates_for or _own_coordinates
        )
        self._writer = writer
        self._source = source
        self._sink = SinkThread(sink_factory)
        self._stop_by: float | None = None  # monotonic deadline of the stop, once stopping

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then drain and commit within the drain timeout.

        One budget bounds the stop: the drain, and the revoke wait of the consumer's close, end
        by `drain_timeout_s` after the stop. A failed sink task or HTTP thread raises at once
        (nothing would settle any more) and the stop waits for nothing.
        """
        with self._sink:
            preparer = self._preparer = self.prepare.open(self.settings)
            try:
                self._source.start(self)
                self.checkpoint.start()
                while not stop.is_set():
                    self._step()
                    self.checkpoint.commit_if_due()
                self._stop_by = time.monotonic() + self.settings.pipeline.drain_timeout_s
                self._drain()
                self.checkpoint.commit(wait=True)
            except BaseException:
                self._stop_by = time.monotonic()
                raise
            finally:
                self._source.close()
                self._writer.close()
                preparer.close()
        log.info("pipeline stopped", extra={"settled": dict(self.status.settled_by_status)})

    def _step(self) -> None:
        self._sink.raise_if_failed()
        if self._preparer is not None:
            self._preparer.check()  # a dead prepare process stops the run even with no batch out
        if len(self._preparing) < self._max_preparing:
            timeout_s = _POLL_TIMEOUT_PREPARING_S if self._preparing else _POLL_TIMEOUT_S
            envelopes = self._source.poll(self.settings.pipeline.poll_batch_size, timeout_s)
            if envelopes:
                self._handle(envelopes)
        else:  # every prepare process has work: wait for the oldest batch, not for Kafka
            self._preparing[0][0].wait(_POLL_TIMEOUT_PREPARING_S)
        self._take_prepared(keep=self._max_preparing)
        self._collect_outcomes()
        self._writer.poll()
        self.checkpoint.hold_back(auth_failing=self._sink.auth_failing)
        self._update_status()

    # --- records --------------------------------------------------------------------------

    def _handle(self, envelopes: list[SourceRecord]) -> None:
        batch: list[tuple[SourceRecord, PartitionOffsets]] = []
        book = self.checkpoint.book
        for envelope in envelopes:
            c = envelope.coordinates
            offsets = book.get(c.topic, c.partition)
            if offsets is None:
                continue  # its partition was revoked after the fetch; the new owner reads it
            offsets.track(c.offset)
            if self._record_filter is not None and not self._record_filter(envelope):
                offsets.settle(c.offset)
                continue
            batch.append((envelope, offsets))
        self.status.consumed += len(envelopes)
        if batch and self._preparer is not None:
            span = self._spans.start([envelope for envelope, _ in batch])
            records = [(envelope.value, self._identity(envelope)) for envelope, _ in batch]
            self._preparing.append((self._preparer.submit(records, now_ms()), batch, span))

    def _take_prepared(self, *, keep: int) -> None:
        """Hand prepared batches to the sink in order: those done, and (waiting for them) all
        but the newest `keep`."""
        items: list[SinkItem] = []
        failures = ResultBatch()  # records that end before the sink, written together
        book = self.checkpoint.book
        while self._preparing and (len(self._preparing) > keep or self._preparing[0][0].done()):
            done, batch, span = self._preparing.popleft()
            trace = self._spans.context(span)
            for (envelope, offsets), prepared in zip(batch, done.result(), strict=True):
                c = envelope.coordinates
                if book.get(c.topic, c.partition) is not offsets:
                    continue  # lost while it was prepared; the new owner reads it again
                if isinstance(prepared, Ready):
                    pending = Pending(envelope, offsets, prepared)
                    event_id, payload = prepared.event_id, prepared.payload
                    items.append(
                        SinkItem(pending, event_id, payload, prepared.connection, (), trace)
                    )
                else:
                    identity = self._identity(envelope)
                    result, stage = failed_result(identity, envelope, prepared, now_ms())
                    failures.add(result, envelope, stage, offsets)
            self._spans.end(span)
        self._write(failures)
        if items:
            self._sink.add(items)

    def _collect_outcomes(self) -> None:
        """Every answer the sink has given since the last turn, as one batch of results."""
        batch = ResultBatch()
        identity = self._identity
        for outcome in self._sink.answers():
            pending = outcome.item.ref
            assert isinstance(pending, Pending)  # noqa: S101 - our own handle
            envelope = pending.envelope
            result = sent_result(identity(envelope), envelope, pending.ready, outcome)
            batch.add(result, envelope, "spotify", pending.offsets)
        self._write(batch)

    def _write(self, batch: ResultBatch) -> None:
        """Hand a batch to the store; its records settle together once all are durable."""
        if batch.entries:
            self._writer.write_batch(batch.entries, lambda: self.checkpoint.settled(batch))

    # --- status and the stop -----------------------------------------------------------------

    def _update_status(self) -> None:
        status = self.status
        status.heartbeat_ms = now_ms()
        status.unsettled = self.checkpoint.unsettled
        status.failing_connections = self._sink.failing_connections
        status.auth_failing = bool(status.failing_connections)
        status.stripped_fields = self._sink.stripped_fields
        status.paused = len(self._source.paused)
        status.assigned = len(self.checkpoint.book)
        if status.unsettled == 0:
            status.last_progress_ms = now_ms()

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
        if not self._sink.flush(self._remaining_s()):
            log.warning("drain timed out; unsettled records will be redelivered")
        self._collect_outcomes()
        self._writer.flush(self._remaining_s())
        self._writer.poll()

    # --- source events (inside poll or commit, on the Kafka thread) -------------------------------

    def assigned(self, partitions: Partitions) -> None:
        self.status.broker_down = False
        self.status.rebalances["assigned"] += 1
        self.checkpoint.assign(partitions)
        log.info("partitions assigned", extra={"partitions": partitions})

    def revoked(self, partitions: Partitions) -> None:
        self.status.rebalances["revoked"] += 1
        book = self.checkpoint.book
        owned = [p for tp in partitions if (p := book.get(*tp)) is not None]
        self._await_settled(owned, self._remaining_s(self.settings.pipeline.revoke_timeout_s))
        self.checkpoint.commit(wait=True, partitions=owned)
        self.checkpoint.revoke(partitions)
        log.info("partitions revoked", extra={"partitions": partitions})

    def lost(self, partitions: Partitions) -> None:
        self.status.rebalances["lost"] += 1
        self.checkpoint.revoke(partitions)
        log.warning("partitions lost", extra={"partitions": partitions})

    def committed(self, commits: list[Commit]) -> None:
        self.checkpoint.committed(commits)

    def commit_failed(self) -> None:
        self.checkpoint.commit_failed()

    def brokers_down(self) -> None:
        self.status.broker_down = True


_own_coordinates: Callable[[SourceRecord], SourceCoordinates] = attrgetter("coordinates")
