"""`backfill --dry-run`: what a backfill of the range would do, sending nothing.

Reads the whole range (whatever a group of the same id has done) and prepares each record as the
run would (decode, transform, consent, allow-list, routing): counts per partition, per Spotify
event name and connection of the events it would send, and per reason of those it would skip for
consent, reject or find undecodable. What Spotify itself would refuse cannot be known without
sending.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connector.commands.progress import Progress
from connector.config import Settings
from connector.kafka.admin import TopicRanges, read_offsets
from connector.models import Rejected, Skipped, SourceRecord
from connector.prepare.choice import choose
from connector.prepare.preparer import Prepared, Preparer, Ready, Undecodable

_BATCH = 1000


@dataclass
class DryRunCounts:
    by_partition: Counter[str] = field(default_factory=Counter)
    would_send: dict[str, Counter[str]] = field(default_factory=dict)  # connection → event name
    skipped_no_consent: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    undecodable: Counter[str] = field(default_factory=Counter)

    def add(self, record: SourceRecord, prepared: Prepared) -> None:
        c = record.coordinates
        self.by_partition[f"{c.topic}[{c.partition}]"] += 1
        if isinstance(prepared, Ready):
            self.would_send.setdefault(prepared.connection, Counter())[prepared.event_name] += 1
        elif isinstance(prepared, Skipped):
            self.skipped_no_consent[prepared.reason] += 1
        elif isinstance(prepared, Rejected):
            self.rejected[prepared.rejection.reason] += 1
        elif isinstance(prepared, Undecodable):
            self.undecodable[prepared.reason] += 1

    def to_wire(self) -> dict[str, Any]:
        by_event_name: Counter[str] = Counter()
        for names in self.would_send.values():
            by_event_name.update(names)
        return {
            "records": sum(self.by_partition.values()),
            "by_partition": dict(sorted(self.by_partition.items())),
            "would_send": sum(by_event_name.values()),
            "would_send_by_event_name": dict(sorted(by_event_name.items())),
            "would_send_by_connection": {
                name: sum(names.values()) for name, names in sorted(self.would_send.items())
            },
            "skipped_no_consent": dict(sorted(self.skipped_no_consent.items())),
            "rejected": dict(sorted(self.rejected.items())),
            "undecodable": dict(sorted(self.undecodable.items())),
        }


def dry_run(settings: Settings, backfill_id: str, ranges: TopicRanges) -> DryRunCounts:
    counts = DryRunCounts()
    preparer = Preparer(
        settings.decode, settings.transform, settings.routing, native=choose(settings).native
    )
    total = sum(end - start for start, end in ranges.values())
    progress = Progress(total, f"backfill {backfill_id} (dry run)")
    group = f"{settings.kafka.group_id}-dry-run-{uuid.uuid4().hex[:8]}"  # never commits
    batch: list[SourceRecord] = []

    def prepare() -> None:
        now_ms = time.time_ns() // 1_000_000
        prepared = preparer.prepare([(r.value, r.coordinates) for r in batch], now_ms)
        for record, outcome in zip(batch, prepared, strict=True):
            counts.add(record, outcome)
        progress.advance_to(progress.done + len(batch))
        batch.clear()

    try:
        for record in read_offsets(settings.kafka, group, ranges):
            batch.append(record)
            if len(batch) >= _BATCH:
                prepare()
        if batch:
            prepare()
    finally:
        preparer.close()
        progress.close()
    return counts
