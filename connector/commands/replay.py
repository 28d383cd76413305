"""`spotify-capi-connector replay`: send dead-lettered records through the connector again.

After the cause of failures is fixed (a token, a mapping, an outage), this reads the dead-letter
topic with the normal pipeline: decode → transform → Spotify → results (and, for records that
fail again, a new dead letter). Records are selected by the `capi.error.reason` header and by
when they were dead-lettered (the DLQ record's time).

- Same event ids: a derived event id comes from the ORIGINAL coordinates, which the dead letter
  carries in its `capi.source.*` headers; the pipeline's `coordinates_for` hook uses them, so
  Spotify deduplicates an event that did arrive after all. Results name the original record too.
- Bounded: the end offsets of the DLQ at start are the stop line. Records past it (this replay's
  own new dead letters among them) are skipped, so a replay cannot chase its own tail.
- Its own consumer group, `<group_id>-replay`, is set to the start offsets first (the beginning,
  or `--since`): every replay reads its whole selection. Run one replay at a time.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from connector.commands.progress import Progress
from connector.commands.report import add_time_range
from connector.config import KafkaSettings, Settings
from connector.errors import InputError
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates, SourceRecord
from connector.process.logs import configure_logging

NAME = "replay"
HELP = "send dead-lettered records to Spotify again (by reason and time), keeping their event ids"

REASON_HEADER = "capi.error.reason"
log = logging.getLogger("connector")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file (environment wins)")
    parser.add_argument(
        "--reason",
        action="append",
        dest="reasons",
        metavar="R",
        help="only dead letters with this capi.error.reason (repeatable; default: all)",
    )
    add_time_range(parser, "records dead-lettered")


def run(args: argparse.Namespace) -> int:
    from connector.assemble import load_settings  # the parts judge what only they can

    settings = load_settings(args.config)
    settings.require_delivery()
    if args.since is not None and args.until is not None and args.until <= args.since:
        raise InputError("--until must be later than --since")
    configure_logging(settings.telemetry.log_level, settings.telemetry.log_format)
    replay_settings = replay_settings_for(settings)
    scope = ReplayScope.prepare(
        replay_settings.kafka, frozenset(args.reasons or ()), args.since, args.until
    )
    if scope.total == 0:
        print(f"nothing to replay in {replay_settings.kafka.input_topic}")
        return 0
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("replay stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        outcome = replay(replay_settings, scope, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(outcome.describe())
    return 0 if outcome.complete and outcome.all_delivered else 1


def replay_settings_for(settings: Settings) -> Settings:
    """The connector's settings, reading the dead-letter topic with the replay group."""
    kafka = settings.kafka.model_copy(
        update={"input_topic": settings.kafka.dlq_topic, "group_id": replay_group(settings.kafka)}
    )
    return settings.model_copy(update={"kafka": kafka})


def replay_group(kafka: KafkaSettings) -> str:
    return f"{kafka.group_id}-replay"


def original_coordinates(envelope: SourceRecord) -> SourceCoordinates:
    """Where a dead letter first came from (its `capi.source.*` headers), else where it is."""
    headers = dict(envelope.headers)
    try:
        return SourceCoordinates(
            topic=headers["capi.source.topic"].decode("utf-8"),
            partition=int(headers["capi.source.partition"]),
            offset=int(headers["capi.source.offset"]),
            timestamp_ms=envelope.coordinates.timestamp_ms,
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return envelope.coordinates


@dataclass
class ReplayScope:
    """The dead letters a replay covers: offsets [start, end) per partition, then the filter."""

    ranges: dict[int, tuple[int, int]]
    reasons: frozenset[str]
    since_ms: int | None = None
    until_ms: int | None = None
    done: int = 0  # records in range that are settled (replayed) or skipped by the filter
    selected: int = 0

    @property
    def total(self) -> int:
        return sum(end - start for start, end in self.ranges.values())

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @classmethod
    def prepare(
        cls,
        kafka: KafkaSettings,
        reasons: frozenset[str],
        since_ms: int | None,
        until_ms: int | None,
    ) -> ReplayScope:
        """Read the DLQ's offsets now, and point the replay group at the start offsets."""
        from connector.kafka.admin import start_group_at

        ranges = start_group_at(kafka, since_ms)
        return cls(ranges, reasons, since_ms, until_ms)

    def selects(self, envelope: SourceRecord) -> bool:
        """The pipeline's record filter; counts every in-range record it refuses as done."""
        c = envelope.coordinates
        _start, end = self.ranges.get(c.partition, (0, 0))
        if c.offset >= end:
            return False  # past the stop line: a newer dead letter, for a later replay
        if self._wanted(envelope):
            self.selected += 1
            return True
        self.done += 1
        return False

    def _wanted(self, envelope: SourceRecord) -> bool:
        when = envelope.coordinates.timestamp_ms
        if self.since_ms is not None and (when is None or when < self.since_ms):
            return False
        if self.until_ms is not None and (when is None or when >= self.until_ms):
            return False
        if not self.reasons:
            return True
        reason = dict(envelope.headers).get(REASON_HEADER, b"").decode("utf-8", "replace")
        return reason in self.reasons


@dataclass
class ReplayOutcome:
    scope: ReplayScope
    by_status: Counter[str] = field(default_factory=Counter)

    @property
    def complete(self) -> bool:
        return self.scope.complete

    @property
    def all_delivered(self) -> bool:
        return self.by_status[DeliveryStatus.DELIVERED.value] == self.scope.selected

    def describe(self) -> str:
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(self.by_status.items())) or "none"
        state = "complete" if self.complete else "interrupted"
        return (
            f"replay {state}: {self.scope.selected} of {self.scope.total} dead letters selected; "
            f"results: {statuses}"
        )


def replay(settings: Settings, scope: ReplayScope, stop: threading.Event) -> ReplayOutcome:
    """Run the pipeline over the DLQ until the scope is complete (or `stop` is set)."""
    from connector.assemble import build_pipeline

    outcome = ReplayOutcome(scope)
    progress = Progress(scope.total, "replay")

    def advance() -> None:
        progress.advance_to(scope.done)
        if scope.complete:
            stop.set()

    def on_results(results: Sequence[DeliveryResult]) -> None:
        outcome.by_status.update(result.status.value for result in results)
        scope.done += len(results)
        advance()

    def record_filter(envelope: SourceRecord) -> bool:
        wanted = scope.selects(envelope)
        if not wanted:
            advance()  # the pipeline settles a refused record right after this returns
        return wanted

    pipeline = build_pipeline(
        settings,
        on_results=on_results,
        record_filter=record_filter,
        coordinates_for=original_coordinates,
    )
    run_id = uuid.uuid4().hex[:8]
    log.info(
        "replay starting",
        extra={
            "run": run_id,
            "dlq_topic": settings.kafka.input_topic,
            "group_id": settings.kafka.group_id,
            "records": scope.total,
            "reasons": sorted(scope.reasons),
        },
    )
    try:
        pipeline.run(stop)
    finally:
        progress.close()
    log.info("replay finished", extra={"run": run_id, "results": dict(outcome.by_status)})
    return outcome
