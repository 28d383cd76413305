"""A backfill's run: the pipeline over its ranges, stopped when every partition's range settled.

A partition's range is settled when every record read in it has a result and the last one read
is the one before the range's end, or a record at or past the end was read (the gap of a
compacted topic is stepped over). Records past the end are left to the live run: the filter
refuses them, without a result.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from connector.commands.progress import Progress
from connector.config import Settings
from connector.kafka.admin import TopicRanges
from connector.models import DeliveryResult, SourceRecord

log = logging.getLogger("connector")
Partition = tuple[str, int]


@dataclass
class BackfillScope:
    """The ranges left to read, per partition, and how far each has come."""

    ranges: TopicRanges
    read: Counter[Partition] = field(default_factory=Counter)
    settled: Counter[Partition] = field(default_factory=Counter)
    last_read: dict[Partition, int] = field(default_factory=dict)
    past_end: set[Partition] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(end - start for start, end in self.ranges.values())

    @property
    def done(self) -> int:
        return sum(self.settled.values())

    @property
    def complete(self) -> bool:
        return all(self._finished(key) for key in self.ranges)

    def selects(self, record: SourceRecord) -> bool:
        """The pipeline's record filter: the records inside a range."""
        c = record.coordinates
        key = (c.topic, c.partition)
        start, end = self.ranges.get(key, (0, 0))
        if c.offset >= end:
            self.past_end.add(key)
            return False
        if c.offset < start:
            return False  # before the group's position: never read, here for completeness
        self.read[key] += 1
        self.last_read[key] = c.offset
        return True

    def count(self, results: Sequence[DeliveryResult]) -> None:
        for result in results:
            self.settled[(result.coordinates.topic, result.coordinates.partition)] += 1

    def _finished(self, key: Partition) -> bool:
        start, end = self.ranges[key]
        if start >= end:
            return True
        reached = key in self.past_end or self.last_read.get(key, start - 1) + 1 >= end
        return reached and self.settled[key] >= self.read[key]


@dataclass
class BackfillOutcome:
    scope: BackfillScope
    by_status: Counter[str] = field(default_factory=Counter)
    by_connection: dict[str, Counter[str]] = field(default_factory=dict)
    by_event_name: Counter[str] = field(default_factory=Counter)
    failures: int = 0  # results that went to the dead-letter topic

    @property
    def complete(self) -> bool:
        return self.scope.complete

    def add(self, results: Sequence[DeliveryResult]) -> None:
        for result in results:
            self.failures += result.is_failure
            status = result.status.value
            self.by_status[status] += 1
            self.by_connection.setdefault(result.connection or "(none)", Counter())[status] += 1
            if status == "DELIVERED":
                self.by_event_name[result.event_name or "(none)"] += 1


def run_backfill(
    settings: Settings, backfill_id: str, scope: BackfillScope, stop: threading.Event
) -> BackfillOutcome:
    """The pipeline over the scope until it is complete (or `stop` is set)."""
    from connector.assemble import build_pipeline

    outcome = BackfillOutcome(scope)
    progress = Progress(scope.total, f"backfill {backfill_id}")

    def settled(results: Sequence[DeliveryResult]) -> None:
        scope.count(results)
        outcome.add(results)
        progress.advance_to(scope.done)
        if scope.complete:
            stop.set()

    def select(record: SourceRecord) -> bool:
        wanted = scope.selects(record)
        if not wanted and scope.complete:
            stop.set()  # the last partition ran past its end
        return wanted

    pipeline = build_pipeline(
        settings, on_results=settled, record_filter=select, backfill=backfill_id
    )
    log.info(
        "backfill starting",
        extra={
            "backfill": backfill_id,
            "group_id": settings.kafka.group_id,
            "topics": settings.kafka.input_topic,
            "records": scope.total,
        },
    )
    try:
        pipeline.run(stop)
    finally:
        progress.close()
    log.info(
        "backfill finished", extra={"backfill": backfill_id, "results": dict(outcome.by_status)}
    )
    return outcome
