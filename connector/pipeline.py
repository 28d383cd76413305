"""The one place where the stages meet: source → decode → transform → sink → outcome → commit.

Two threads. The Kafka thread (the caller's) polls, writes outcome records and commits; it
decodes and transforms too, or hands that to worker processes (`pipeline.prepare_processes`) and
takes their batches back in order. The HTTP thread runs the sink's event loop. Sink outcomes
cross back through a queue.

A record is *settled* when Spotify acknowledged it and its result record is acknowledged by the
broker, or when its failure (result and dead letter) is acknowledged by the broker. Offsets are
committed only up to the first unsettled record of each partition (connector.offsets).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
from confluent_kafka import KafkaError

from connector.config import Settings
from connector.errors import InternalFailure
from connector.kafka_client import log_client_error
from connector.loop_thread import LoopThread
from connector.models import (
    DeliveryResult,
    DeliveryStatus,
    Envelope,
    SourceCoordinates,
)
from connector.offsets import Commit, OffsetBook, PartitionOffsets
from connector.outcome import OutcomeWriter
from connector.prepare import Batch, Prepared, PreparePool, Preparer, Ready, Undecodable
from connector.sink import (
    NullObserver,
    SendOutcome,
    SendStatus,
    SinkItem,
    SinkObserver,
    SpotifySink,
)
from connector.source import Source

log = logging.getLogger(__name__)

_SEND_STATUS = {
    SendStatus.DELIVERED: DeliveryStatus.DELIVERED,
    SendStatus.REJECTED: DeliveryStatus.REJECTED_SPOTIFY,
    SendStatus.RETRY_EXHAUSTED: DeliveryStatus.RETRY_EXHAUSTED,
}
_POLL_TIMEOUT_S = 0.05
_POLL_TIMEOUT_PREPARING_S = 0.005  # batches are in the workers: come back for them soon


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True, eq=False)
class Pending:
    """A record handed to the sink: what its result needs once Spotify answers."""

    envelope: Envelope
    offsets: PartitionOffsets
    ready: Ready


@dataclass
class PipelineStatus:
    """What health checks and the CLI read; written by the Kafka thread only."""

    started_at_ms: int = field(default_factory=now_ms)
    assigned: int = 0
    paused: int = 0
    unsettled: int = 0
    auth_failing: bool = False
    broker_down: bool = False
    last_progress_ms: int = field(default_factory=now_ms)
    settled_by_status: Counter[str] = field(default_factory=Counter)
    consumed: int = 0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)  # records not yet settled


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        sink_observer: SinkObserver | None = None,
        on_result: Callable[[DeliveryResult], None] | None = None,
        record_filter: Callable[[Envelope], bool] | None = None,
        coordinates_for: Callable[[Envelope], SourceCoordinates] | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        settings.require_delivery()
        self.settings = settings
        self.status = PipelineStatus()
        self._preparer: Preparer | PreparePool | None = None  # opened by run()
        # Batches handed to the preparer, oldest first, with the records they came from.
        self._preparing: deque[tuple[Batch, list[tuple[Envelope, PartitionOffsets]]]] = deque()
        # Two batches a worker keep each busy; in the Kafka thread every batch is done at once.
        self._max_preparing = max(1, 2 * settings.pipeline.prepare_processes)
        self._book = OffsetBook()
        self._outcomes: queue.SimpleQueue[Sequence[SendOutcome]] = queue.SimpleQueue()
        self._sink_observer = sink_observer or NullObserver()
        self._on_result = on_result
        self._record_filter = record_filter  # records it refuses are skipped (settled, no result)
        # The identity of a record for its event id and result: replay gives the original
        # coordinates of a dead letter, so a replayed event keeps its derived event id.
        self._coordinates_for = coordinates_for
        self._trace_configs = trace_configs
        self._writer = OutcomeWriter(settings.kafka)
        self._source = Source(
            settings.kafka,
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
            on_committed=self._committed,
            on_error=self._kafka_error,
        )
        self._http = LoopThread()
        self._sink: SpotifySink | None = None
        self._backpressure = False
        self._stop_by: float | None = None  # monotonic deadline of the stop, once stopping

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
                self._source.start()
                last_commit = time.monotonic()
                while not stop.is_set():
                    self._step()
                    if time.monotonic() - last_commit >= self.settings.pipeline.commit_interval_s:
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
        if s.pipeline.prepare_processes == 0:
            return Preparer(s.decode, s.transform)
        return PreparePool(s.decode, s.transform, s.pipeline.prepare_processes)

    async def _open_sink(self) -> SpotifySink:
        sink = SpotifySink(
            self.settings.spotify,
            self.settings.sink,
            self._outcomes.put,
            observer=self._sink_observer,
            trace_configs=self._trace_configs,
        )
        return await sink.__aenter__()

    async def _close_sink(self) -> None:
        if self._sink is not None:
            await self._sink.__aexit__(None, None, None)

    def _step(self) -> None:
        self._raise_internal_failure()
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

    def _handle(self, envelopes: list[Envelope]) -> None:
        batch: list[tuple[Envelope, PartitionOffsets]] = []
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
        while self._preparing and (len(self._preparing) > keep or self._preparing[0][0].done()):
            done, batch = self._preparing.popleft()
            for (envelope, offsets), prepared in zip(batch, done.result(), strict=True):
                c = envelope.coordinates
                if self._book.get(c.topic, c.partition) is not offsets:
                    continue  # lost while it was prepared; the new owner reads it again
                item = self._dispatch(envelope, offsets, prepared)
                if item is not None:
                    items.append(item)
        if items and self._sink is not None:
            self._http.call(_add_all, self._sink, items)

    def _dispatch(
        self, envelope: Envelope, offsets: PartitionOffsets, prepared: Prepared
    ) -> SinkItem | None:
        """A sink item for an accepted event; a failure is recorded here and settles alone."""
        if isinstance(prepared, Ready):
            pending = Pending(envelope, offsets, prepared)
            return SinkItem(ref=pending, event_id=prepared.event_id, payload=prepared.payload)
        if isinstance(prepared, Undecodable):
            self._fail(
                envelope,
                offsets,
                DeliveryStatus.UNDECODABLE,
                stage="decode",
                error_code=prepared.reason,
                error_message=prepared.message,
            )
            return None
        r = prepared.rejection
        self._fail(
            envelope,
            offsets,
            DeliveryStatus.REJECTED_TRANSFORM,
            stage="transform",
            error_code=r.reason,
            error_field=r.field,
            error_message=r.message,
            event_id=prepared.event_id,
            event_name=prepared.event_name,
            warnings=tuple(str(w) for w in prepared.warnings),
        )
        return None

    def _identity(self, envelope: Envelope) -> SourceCoordinates:
        if self._coordinates_for is None:
            return envelope.coordinates
        return self._coordinates_for(envelope)

    def _fail(
        self,
        envelope: Envelope,
        offsets: PartitionOffsets,
        status: DeliveryStatus,
        *,
        stage: str,
        **details: object,
    ) -> None:
        result = DeliveryResult(
            coordinates=self._identity(envelope),
            status=status,
            received_at_ms=envelope.received_at_ms,
            settled_at_ms=now_ms(),
            **details,  # type: ignore[arg-type]
        )
        self._write(result, envelope, offsets, stage)

    def _collect_outcomes(self) -> None:
        while True:
            try:
                outcomes = self._outcomes.get_nowait()
            except queue.Empty:
                return
            for outcome in outcomes:
                pending = outcome.item.ref
                assert isinstance(pending, Pending)  # noqa: S101 - our own handle
                ready = pending.ready
                result = DeliveryResult(
                    coordinates=self._identity(pending.envelope),
                    status=_SEND_STATUS[outcome.status],
                    received_at_ms=pending.envelope.received_at_ms,
                    settled_at_ms=outcome.acknowledged_at_ms,
                    event_id=outcome.item.event_id,
                    event_name=ready.event_name,
                    event_time_ms=ready.event_time_ms,
                    http_status=outcome.http_status,
                    error_code=outcome.error_code,
                    error_message=outcome.error_message,
                    attempts=outcome.attempts,
                    sp_trace_id=outcome.sp_trace_id,
                    warnings=ready.warnings + outcome.warnings,
                )
                self._write(result, pending.envelope, pending.offsets, "spotify")

    def _write(
        self, result: DeliveryResult, envelope: Envelope, offsets: PartitionOffsets, stage: str
    ) -> None:
        offset = envelope.coordinates.offset

        def durable() -> None:
            offsets.settle(offset)
            self.status.settled_by_status[result.status.value] += 1
            self.status.last_progress_ms = now_ms()
            if self._on_result is not None:
                self._on_result(result)

        self._writer.write(result, envelope, durable, stage=stage)

    # --- flow control and commits -----------------------------------------------------------

    def _apply_backpressure(self) -> None:
        sink = self._sink
        auth_failing = sink is not None and sink.auth_failing
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
        status = self.status
        status.unsettled = unsettled
        status.auth_failing = auth_failing
        status.paused = len(self._source.paused)
        status.assigned = len(partitions)
        if unsettled == 0:
            status.last_progress_ms = now_ms()

    def _commit(self, *, wait: bool, partitions: Sequence[PartitionOffsets] | None = None) -> None:
        chosen = list(self._book) if partitions is None else partitions
        self._source.commit([c for p in chosen if (c := p.next_commit()) is not None], wait=wait)

    def _committed(self, commits: list[Commit]) -> None:
        """The broker acknowledged these commits (called inside poll or a blocking commit)."""
        for commit in commits:
            offsets = self._book.get(commit.topic, commit.partition)
            if offsets is not None:
                offsets.mark_committed(commit.offset)

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

    # --- rebalance callbacks (run inside poll, on the Kafka thread) ----------------------------

    def _assigned(self, partitions: list[tuple[str, int]]) -> None:
        self.status.broker_down = False
        for topic, partition in partitions:
            if self._book.get(topic, partition) is None:  # incremental: keep what we track
                self._book.assign(topic, partition)
        log.info("partitions assigned", extra={"partitions": partitions})

    def _revoked(self, partitions: list[tuple[str, int]]) -> None:
        owned = [p for tp in partitions if (p := self._book.get(*tp)) is not None]
        self._await_settled(owned, self._remaining_s(self.settings.pipeline.revoke_timeout_s))
        self._commit(wait=True, partitions=owned)
        for topic, partition in partitions:
            self._book.revoke(topic, partition)
        log.info("partitions revoked", extra={"partitions": partitions})

    def _lost(self, partitions: list[tuple[str, int]]) -> None:
        for topic, partition in partitions:
            self._book.revoke(topic, partition)
        log.warning("partitions lost", extra={"partitions": partitions})

    def _kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.status.broker_down = True
        log_client_error(error.str())


def _add_all(sink: SpotifySink, items: list[SinkItem]) -> None:
    for item in items:
        sink.add(item)
