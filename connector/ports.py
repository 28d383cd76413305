"""What the pipeline needs of its parts, and what it offers them: the seams between the stages.

The real parts are `connector.kafka.KafkaSource`, `connector.kafka.ResultWriter` and
`connector.sink.SpotifySink`; unit tests give the pipeline in-memory ones.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from connector.models import DeliveryResult, SourceRecord
from connector.offsets import Commit
from connector.sink import SendOutcome, SinkItem, StrippedField

Partitions = list[tuple[str, int]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# Records prepared, by (path, reason): ("native", "") for those the native path took, ("python",
# why) for the others (connector/prepare/native.py `REASONS`, `no_route`, and `off` when the
# native path is off for the run). The preparer adds to it once a batch (in a prepare process,
# its counts come back with the batch); telemetry reads it at scrape time.
PrepareCounts = Counter[tuple[str, str]]


@dataclass
class PipelineStatus:
    """What the pipeline offers health checks, metrics and the CLI; written by the Kafka thread
    only (a field is replaced whole, never changed in place, where other threads read it)."""

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
    # Records prepared by path and reason: the preparer's counts (`PrepareChoice.counts`).
    prepared: PrepareCounts = field(default_factory=Counter)


class SourceEvents(Protocol):
    """What a source tells its owner; called on the owner's thread, inside `poll` or `commit`."""

    def assigned(self, partitions: Partitions) -> None: ...

    def revoked(self, partitions: Partitions) -> None: ...

    def lost(self, partitions: Partitions) -> None: ...

    def committed(self, commits: list[Commit]) -> None: ...

    def commit_failed(self) -> None: ...

    def brokers_down(self) -> None: ...


class RecordSource(Protocol):
    def start(self, events: SourceEvents) -> None: ...

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]: ...

    def pause(self, partitions: Sequence[tuple[str, int]]) -> None: ...

    def resume(self, partitions: Sequence[tuple[str, int]]) -> None: ...

    @property
    def paused(self) -> frozenset[tuple[str, int]]: ...

    def commit(self, commits: Sequence[Commit], *, wait: bool) -> None: ...

    def lag(self, positions: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]: ...

    def reachable(self) -> bool: ...

    def close(self) -> None: ...


# The result writer's two topics, as its producer-error feed names them.
RESULTS, DEAD_LETTER = "results", "dead_letter"
TOPIC_ROLES = (RESULTS, DEAD_LETTER)
# (topic role, librdkafka error name such as "_MSG_TIMED_OUT"): a record the broker refused for
# good, reported before the writer raises (connector.kafka.ResultWriter → telemetry).
ProduceErrorCallback = Callable[[str, str], None]


# One record's result: the result, the source record it is for (a dead letter is that record),
# and the stage a dead letter names.
ResultEntry = tuple[DeliveryResult, SourceRecord, str]


class ResultStore(Protocol):
    """Where results (and dead letters) go, a batch at a time."""

    def write_batch(self, entries: Sequence[ResultEntry], on_durable: Callable[[], None]) -> None:
        """Store every entry's result, and a failure's dead letter too. Call `on_durable` once,
        when every record written for the batch is stored (from `poll` or `flush`, or from this
        call if they were stored before it ends); never when one is refused (then `poll` or
        `flush` raises, and the run stops)."""

    def poll(self, timeout_s: float = 0.0) -> None: ...

    def flush(self, timeout_s: float) -> int: ...

    def close(self) -> None: ...


class Sink(Protocol):
    """The HTTP side, used on its own event loop (`connector.process.loop_thread`)."""

    @property
    def auth_failing(self) -> bool:
        """True when nothing can be sent: every connection's token is refused."""

    @property
    def failing_connections(self) -> tuple[str, ...]:
        """The connections whose token Spotify refuses now (their items are held)."""

    @property
    def stripped_fields(self) -> tuple[StrippedField, ...]:
        """The fields connections send no more because Spotify refuses them (learned)."""

    def add(self, item: SinkItem) -> None: ...

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - the sink's
        ...

    def raise_if_failed(self) -> None: ...


OutcomesCallback = Callable[[Sequence[SendOutcome]], None]
# A sink not yet opened; the pipeline enters it on the HTTP thread's loop. It answers through the
# callback, one outcome an item.
SinkFactory = Callable[[OutcomesCallback], AbstractAsyncContextManager[Sink]]
