"""In-memory parts for a Pipeline: a scripted source, a result store and a Spotify sink.

The source plays a script, one step a poll: records to return, a rebalance to report, or a
condition to wait for (the pipeline keeps stepping meanwhile). When the script ends it sets the
stop event, and the pipeline drains and commits as it does in `run`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from connector.kafka.results import ResultWriteError
from connector.models import DeliveryResult, SourceCoordinates, SourceRecord
from connector.offsets import Commit
from connector.ports import OutcomesCallback, Partitions, ResultEntry, SourceEvents
from connector.schemas import avro
from connector.sink import SendOutcome, SendStatus, SinkItem, StrippedField
from tests.support.events import tracking_record

TOPIC = "events"
SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)
RECEIVED_AT_MS = 1_769_172_000_000
STEP_DEADLINE_S = 10.0
EVENT_TIME_MS = (time.time_ns() // 1_000_000 // 1000 - 60) * 1000  # a minute ago: a fresh event


def record(partition: int, offset: int, *, valid: bool = True) -> SourceRecord:
    """A purchase whose event id is `order-<partition><offset>`, or bytes that are not Avro."""
    event = tracking_record(partition * 1000 + offset, **{"$event_time": EVENT_TIME_MS})
    return SourceRecord(
        coordinates=SourceCoordinates(TOPIC, partition, offset, None),
        key=None,
        value=avro.encode(SCHEMA, event) if valid else b"\x00\x01not avro",
        headers=(),
        received_at_ms=RECEIVED_AT_MS,
    )


def event_id(partition: int, offset: int) -> str:
    return f"order-{partition * 1000 + offset:07d}"


# --- the source ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Records:
    envelopes: list[SourceRecord]


@dataclass(frozen=True)
class Assign:
    partitions: Partitions


@dataclass(frozen=True)
class Revoke:
    partitions: Partitions


@dataclass(frozen=True)
class Lose:
    partitions: Partitions


@dataclass(frozen=True)
class Until:
    """Poll nothing until `condition` holds (a step fails after STEP_DEADLINE_S)."""

    condition: Callable[[], bool]
    what: str


@dataclass(frozen=True)
class Do:
    """Run `action` (say, let the sink answer) and go on."""

    action: Callable[[], object]


Step = Records | Assign | Revoke | Lose | Until | Do


@dataclass
class ScriptedSource:
    script: deque[Step]
    stop: threading.Event
    fail_commits: int = 0  # the next N commit calls fail (the broker does not acknowledge)
    attempted: list[list[Commit]] = field(default_factory=list)
    acknowledged: list[Commit] = field(default_factory=list)
    closed: bool = False
    _events: SourceEvents | None = None
    _paused: set[tuple[str, int]] = field(default_factory=set)
    _waiting_since: float | None = None

    def start(self, events: SourceEvents) -> None:
        self._events = events

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        events = self._events
        assert events is not None
        if not self.script:
            self.stop.set()
            return []
        step = self.script[0]
        if isinstance(step, Until):
            if not step.condition():
                self._waiting_since = self._waiting_since or time.monotonic()
                assert time.monotonic() - self._waiting_since < STEP_DEADLINE_S, step.what
                time.sleep(0.001)
                return []
            self._waiting_since = None
        self.script.popleft()
        if isinstance(step, Records):
            assert len(step.envelopes) <= max_records
            return step.envelopes
        if isinstance(step, Assign):
            events.assigned(step.partitions)
        elif isinstance(step, Revoke):
            events.revoked(step.partitions)
            self._paused.difference_update(step.partitions)
        elif isinstance(step, Lose):
            events.lost(step.partitions)
            self._paused.difference_update(step.partitions)
        elif isinstance(step, Do):
            step.action()
        return []

    def pause(self, partitions: Sequence[tuple[str, int]]) -> None:
        self._paused.update(partitions)

    def resume(self, partitions: Sequence[tuple[str, int]]) -> None:
        self._paused.difference_update(partitions)

    @property
    def paused(self) -> frozenset[tuple[str, int]]:
        return frozenset(self._paused)

    def commit(self, commits: Sequence[Commit], *, wait: bool) -> None:
        if not commits:
            return
        self.attempted.append(list(commits))
        assert self._events is not None
        if self.fail_commits > 0:
            self.fail_commits -= 1
            self._events.commit_failed()
            return
        self.acknowledged.extend(commits)
        assert self._events is not None
        self._events.committed(list(commits))

    def committed(self, partition: int) -> int | None:
        """The last offset the broker acknowledged for the partition."""
        offsets = [c.offset for c in self.acknowledged if c.partition == partition]
        return offsets[-1] if offsets else None

    def lag(self, positions: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        return {}

    def reachable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


# --- the result store ------------------------------------------------------------------------


@dataclass
class MemoryResults:
    """Stores results at once; durable at the next poll or flush, unless `refuse` is set."""

    refuse: bool = False
    stored: list[tuple[DeliveryResult, str]] = field(default_factory=list)
    _unacknowledged: list[Callable[[], None]] = field(default_factory=list)

    def write_batch(self, entries: Sequence[ResultEntry], on_durable: Callable[[], None]) -> None:
        self.stored.extend((result, stage) for result, _, stage in entries)
        self._unacknowledged.append(on_durable)

    def poll(self, timeout_s: float = 0.0) -> None:
        if self.refuse and self._unacknowledged:
            raise ResultWriteError("could not write a result record: refused")
        acknowledged, self._unacknowledged = self._unacknowledged, []
        for on_durable in acknowledged:
            on_durable()

    def flush(self, timeout_s: float) -> int:
        self.poll()
        return 0

    def close(self) -> None:
        """Nothing to release."""

    def by_offset(self) -> dict[tuple[int, int], tuple[str, str]]:
        """(partition, offset) → (status, stage) of every stored result."""
        return {
            (r.coordinates.partition, r.coordinates.offset): (r.status.value, stage)
            for r, stage in self.stored
        }


# --- the sink ----------------------------------------------------------------------------------


@dataclass
class MemorySink:
    """Delivers every event at once, except those whose ids are held until `release`."""

    held_ids: set[str] = field(default_factory=set)
    sent: list[str] = field(default_factory=list)
    _answer: OutcomesCallback | None = None
    _held: list[SinkItem] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def factory(self, answer: OutcomesCallback) -> MemorySink:
        self._answer = answer
        return self

    async def __aenter__(self) -> MemorySink:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Nothing to release."""

    @property
    def auth_failing(self) -> bool:
        return False

    @property
    def failing_connections(self) -> tuple[str, ...]:
        return ()

    @property
    def stripped_fields(self) -> tuple[StrippedField, ...]:
        return ()

    @property
    def holding(self) -> int:
        with self._lock:
            return len(self._held)

    def add(self, item: SinkItem) -> None:
        with self._lock:
            self.sent.append(item.event_id)
            if item.event_id in self.held_ids:
                self._held.append(item)
                return
        self._deliver([item])

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            self.held_ids.clear()
        self._deliver(held)

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - the port's
        return self.holding == 0

    def raise_if_failed(self) -> None:
        """Never fails."""

    def _deliver(self, items: list[SinkItem]) -> None:
        assert self._answer is not None
        if items:
            self._answer([_delivered(item) for item in items])


def _delivered(item: SinkItem) -> SendOutcome:
    return SendOutcome(
        item=item,
        status=SendStatus.DELIVERED,
        http_status=200,
        error_code=None,
        error_message=None,
        attempts=1,
        sp_trace_id="trace-1",
        acknowledged_at_ms=RECEIVED_AT_MS + 50,
    )


class SinkByHand:
    """The pipeline's sink thread without a thread, for benchmarks that drive the pipeline's
    steps one by one: items handed to it are dropped, answers are queued by the caller."""

    def __init__(self) -> None:
        self.queued: list[SendOutcome] = []

    def add(self, items: list[SinkItem]) -> None:
        """Dropped: the caller answers for them."""

    def answers(self) -> list[SendOutcome]:
        taken, self.queued = self.queued, []
        return taken
