"""`spotify-capi-connector report`: what became of the records, read from the results topic.

Counts by status, by event name (per status) and by error code; match quality (per event name,
the identifiers delivered events carried and why some were dropped); delivery latency percentiles
(`latency_ms` of DELIVERED results: poll to Spotify's acknowledgement); and the unsettled
problems: records whose latest result is a failure with no later DELIVERED result for the same
event (the same event id; the source coordinates when there is none); and the fields Spotify
refuses, by connection: how many delivered events went without each (healed or learned, the
`spotify_400_removed:<field>` warning), since when and until when. A replay that delivers an
event settles its problem. SKIPPED_NO_CONSENT is counted (its error code says why) but is no
problem: the consent rule settled it. Results a backfill wrote (their `backfill` field) are
counted among all and, per backfill id, by status on their own. Deduplication readiness: per
event name, the delivered events whose event id was their own `$event_id` or derived from the
record's coordinates (`event_id_source`), with a hint when any was derived.

Results are read in `kafka.results_format`. The topic is read from the start (or from `--since`,
by record time) up to the end offsets it had when the report began; `--since`/`--until` then
select results by `settled_at`.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from connector.config import KafkaSettings
from connector.errors import InputError
from connector.results.event_ids import EventIdSources, render_event_id_sources
from connector.results.formats import read_result_records
from connector.results.match_quality import MatchQuality, render_match_quality
from connector.schemas.avro import epoch_ms
from connector.sink.heal import WARNING_CODE as REMOVED_WARNING

NAME = "report"
HELP = "summarise delivery results from the results topic (counts, errors, latency, problems)"

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SETTLED_FOR_GOOD = frozenset({"DELIVERED", "SKIPPED_NO_CONSENT"})


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file (environment wins)")
    add_time_range(parser, "results settled")
    parser.add_argument("--format", choices=("table", "json"), default="table")


# What `parse_time` reads, for the commands' help.
TIME_HINT = "ISO 8601 (UTC unless a zone is given) or an age like 30m, 24h, 7d"


def add_time_range(parser: argparse.ArgumentParser, what: str) -> None:
    hint = TIME_HINT
    parser.add_argument("--since", type=parse_time, help=f"only {what} at or after T: {hint}")
    parser.add_argument("--until", type=parse_time, help=f"only {what} before T: {hint}")


def parse_time(text: str, now_ms: int | None = None) -> int:
    """Epoch milliseconds from `2026-11-27`, `2026-11-27T10:00:00+01:00` or an age like `24h`."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - int(relative.group(1)) * _UNIT_S[relative.group(2)] * 1000
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use ISO 8601, e.g. 2026-11-27T10:00:00Z, or 24h)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def run(args: argparse.Namespace) -> int:
    from connector.assemble import load_settings  # the parts judge what only they can

    settings = load_settings(args.config)
    if args.since is not None and args.until is not None and args.until <= args.since:
        raise InputError("--until must be later than --since")
    summary = Summary(since_ms=args.since, until_ms=args.until)
    for record in read_results(settings.kafka, args.since):
        summary.add(record)
    report = summary.to_wire()
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_table(report))
    return 0


# --- reading -----------------------------------------------------------------------------------


def read_results(kafka: KafkaSettings, since_ms: int | None) -> Iterator[dict[str, Any]]:
    """Decoded result records up to the end offsets at start; a progress bar on a terminal."""
    from tqdm import tqdm

    with tqdm(unit="results", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:

        def start(total: int) -> None:
            bar.total = total
            bar.refresh()

        yield from read_result_records(
            kafka, since_ms, f"{kafka.group_id}-report-{uuid.uuid4().hex[:8]}", start, bar.update
        )


# --- counting ------------------------------------------------------------------------------------


@dataclass
class Summary:
    since_ms: int | None = None
    until_ms: int | None = None
    results: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_event_name: dict[str, Counter[str]] = field(default_factory=dict)
    by_error_code: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[int] = field(default_factory=list)
    match_quality: MatchQuality = field(default_factory=MatchQuality)
    # (connection, field) → [events delivered without it, first settled_at, last settled_at]
    refused_fields: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    backfills: dict[str, Counter[str]] = field(default_factory=dict)  # id → status → results
    event_ids: EventIdSources = field(default_factory=EventIdSources)  # deduplication readiness
    # Per event: its latest result, while that result is a failure (a DELIVERED one removes it).
    _open: dict[str, dict[str, Any]] = field(default_factory=dict)
    _latest: dict[str, int] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        settled = epoch_ms(record["settled_at"])
        if self.since_ms is not None and settled < self.since_ms:
            return
        if self.until_ms is not None and settled >= self.until_ms:
            return
        status = str(record["status"])
        self.results += 1
        self.by_status[status] += 1
        name = record.get("event_name") or "(none)"
        self.by_event_name.setdefault(name, Counter())[status] += 1
        backfill = record.get("backfill")
        if backfill is not None:
            self.backfills.setdefault(str(backfill), Counter())[status] += 1
        if status == "DELIVERED":
            self.latencies_ms.append(int(record["latency_ms"]))
            self.match_quality.add(
                name, record.get("identifiers") or [], record.get("identifiers_dropped") or []
            )
            self._count_refused(record, settled)
            self.event_ids.add(name, record.get("event_id_source"))
        else:
            self.by_error_code[record.get("error_code") or "(none)"] += 1
        self._track(record, status, settled)

    def _count_refused(self, record: dict[str, Any], settled: int) -> None:
        for warning in record.get("warnings") or ():
            code, _, path = str(warning).partition(":")
            if code != REMOVED_WARNING:
                continue
            key = (record.get("connection") or "default", path)
            seen = self.refused_fields.get(key)
            if seen is None:
                self.refused_fields[key] = [1, settled, settled]
            else:
                seen[0] += 1
                seen[1], seen[2] = min(seen[1], settled), max(seen[2], settled)

    def _track(self, record: dict[str, Any], status: str, settled: int) -> None:
        key = record.get("event_id") or (
            f"{record['source_topic']}:{record['source_partition']}:{record['source_offset']}"
        )
        if settled < self._latest.get(key, -1):
            return  # an older result read after a newer one: the newer decides
        self._latest[key] = settled
        if status in _SETTLED_FOR_GOOD:
            self._open.pop(key, None)
        elif key not in self._open:
            self._open[key] = record  # the first failure of a still-unsettled streak

    def to_wire(self) -> dict[str, Any]:
        oldest = min(self._open.values(), key=lambda r: epoch_ms(r["settled_at"]), default=None)
        return {
            "since": iso_time(self.since_ms),
            "until": iso_time(self.until_ms),
            "results": self.results,
            "by_status": dict(sorted(self.by_status.items())),
            "by_event_name": {
                name: dict(sorted(counts.items()))
                for name, counts in sorted(self.by_event_name.items())
            },
            "by_error_code": dict(sorted(self.by_error_code.items())),
            "delivery_latency_ms": percentiles(self.latencies_ms),
            "match_quality": self.match_quality.to_wire(),
            "refused_fields": [
                {
                    "connection": connection,
                    "field": path,
                    "events": events,
                    "since": iso_time(first),
                    "last": iso_time(last),
                }
                for (connection, path), (events, first, last) in sorted(self.refused_fields.items())
            ],
            "backfills": {
                backfill: dict(sorted(counts.items()))
                for backfill, counts in sorted(self.backfills.items())
            },
            "event_ids": self.event_ids.to_wire(),
            "unsettled_problems": len(self._open),
            "oldest_unsettled_problem": None if oldest is None else _problem(oldest),
        }


def percentiles(values: list[int]) -> dict[str, int] | None:
    """p50/p90/p99 (nearest rank) and max; None without values."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(p: float) -> int:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1]}


def _problem(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": record.get("event_id"),
        "event_name": record.get("event_name"),
        "status": record["status"],
        "error_code": record.get("error_code"),
        "http_status": record.get("http_status"),
        "settled_at": iso_time(epoch_ms(record["settled_at"])),
        "source": {
            "topic": record["source_topic"],
            "partition": record["source_partition"],
            "offset": record["source_offset"],
        },
        "sp_trace_id": record.get("sp_trace_id"),
    }


def iso_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


# --- the table -----------------------------------------------------------------------------------


def render_table(report: dict[str, Any]) -> str:
    lines = [
        f"results {report['results']}"
        f"  (settled {report['since'] or 'from the start'} → {report['until'] or 'now'})",
        "",
    ]
    lines += _section("status", report["by_status"])
    statuses = sorted({s for counts in report["by_event_name"].values() for s in counts})
    if statuses:
        lines.append(f"  {'event name':<20}" + "".join(f"{s:>20}" for s in statuses))
        for name, counts in report["by_event_name"].items():
            lines.append(f"  {name:<20}" + "".join(f"{counts.get(s, 0):>20}" for s in statuses))
        lines.append("")
    lines += _section("error code", report["by_error_code"])
    lines += render_match_quality(report["match_quality"])
    lines += _refused_fields(report["refused_fields"])
    lines += render_event_id_sources(report["event_ids"])
    for backfill, counts in report["backfills"].items():
        lines += _section(f"backfill {backfill}", counts)
    latency = report["delivery_latency_ms"]
    if latency is not None:
        lines.append(
            "  delivery latency ms  "
            + "  ".join(f"{key} {value}" for key, value in latency.items())
        )
        lines.append("")
    lines.append(f"  unsettled problems   {report['unsettled_problems']}")
    oldest = report["oldest_unsettled_problem"]
    if oldest is not None:
        source = oldest["source"]
        lines.append(
            f"  oldest               {oldest['settled_at']} {oldest['status']} "
            f"{oldest['error_code'] or ''} event_id={oldest['event_id']} "
            f"at {source['topic']}[{source['partition']}]@{source['offset']}"
        )
    return "\n".join(lines) + "\n"


def _refused_fields(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [f"  {'fields Spotify refuses':<40}{'events':>10}  {'since':<26}last"]
    lines += [
        f"  {row['connection'] + ' ' + row['field']:<40}{row['events']:>10}  "
        f"{row['since']:<26}{row['last']}"
        for row in rows
    ]
    return [*lines, ""]


def _section(title: str, counts: dict[str, int]) -> list[str]:
    if not counts:
        return []
    rows = [f"  {title:<30}{'count':>10}"]
    rows += [f"  {key:<30}{count:>10}" for key, count in counts.items()]
    return [*rows, ""]
