"""`spotify-capi-connector backfill --from T [--to T]`: send the records of a time range again.

For conversions already in Kafka that a new connection, new routing or new access should get:
the records of the input topics whose record time is in [--from, --to) (`offsets_for_times` in
each partition), through the live settings' transform, consent, allow-list and routing (or all
to `--connection`), with the event ids the live run gave them, so Spotify deduplicates what it
already has.

- Its own consumer group, `<group>-backfill-<id>`, committed after Spotify acknowledges as in a
  live run: the same command (or the same `--id`) run again goes on where it stopped.
- Its own request-rate cap per connection (`--max-requests-per-second`, else a quarter of the
  live cap), adapting down on 429 as the live sink does; the live connector is never paused.
- Results as for live records, with `backfill` set to the id; failures dead-lettered.
- `--dry-run` counts what it would do and sends nothing (connector/commands/backfill/dry_run.py).

Exit 0 when the range is done and nothing failed; 1 when some records failed (they are in the
dead-letter topic) or the run was stopped; 2 for arguments it refuses; 3 when Kafka cannot be
reached.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from connector.commands.backfill.plan import BackfillPlan, plan_backfill
from connector.commands.backfill.scope import BackfillOutcome, BackfillScope, run_backfill
from connector.commands.report import TIME_HINT, iso_time
from connector.process.logs import configure_logging

NAME = "backfill"
HELP = "send the records of a time range to Spotify (own group and rate cap, same event ids)"

log = logging.getLogger("connector")


def configure(parser: argparse.ArgumentParser) -> None:
    hint = TIME_HINT
    parser.add_argument("--config", type=Path, help="YAML settings file (environment wins)")
    parser.add_argument(
        "--from", dest="from_", required=True, metavar="T", help=f"records at or after T: {hint}"
    )
    parser.add_argument("--to", metavar="T", help=f"records before T (default: now): {hint}")
    parser.add_argument(
        "--topic",
        action="append",
        dest="topics",
        metavar="NAME",
        help="an input topic to backfill (repeatable; default: every input topic)",
    )
    parser.add_argument(
        "--connection", metavar="NAME", help="send every event to this Spotify connection"
    )
    parser.add_argument(
        "--max-requests-per-second",
        type=_positive,
        metavar="R",
        help="the backfill's cap per connection (default: a quarter of the live cap, if any)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what it would send, skip and reject"
    )
    parser.add_argument(
        "--id",
        metavar="ID",
        help="names the backfill's group; the same id resumes (default: from the arguments)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from connector.assemble import load_settings  # the parts judge what only they can
    from connector.kafka.admin import resume_group_at, time_ranges

    settings = load_settings(args.config)
    plan = plan_backfill(settings, args, time.time_ns() // 1_000_000)
    for note in plan.notes:
        _say(note)
    configure_logging(settings.telemetry.log_level, settings.telemetry.log_format)
    kafka = plan.settings.kafka
    ranges = time_ranges(kafka, plan.topics, plan.from_ms, plan.to_ms)
    if args.dry_run:
        from connector.commands.backfill.dry_run import dry_run

        counts = dry_run(plan.settings, plan.id, ranges).to_wire()
        _print({"backfill": plan.id, "dry_run": True, **_describe(plan), **counts}, args.format)
        return 0
    plan.settings.require_delivery()
    scope = BackfillScope(resume_group_at(kafka, plan.group_id, ranges, on_wait=_say))
    _say(
        f"backfill {plan.id}: {scope.total} records left of "
        f"{sum(end - start for start, end in ranges.values())} in range "
        f"(group {plan.group_id}; to resume, run the same command or add --id {plan.id})"
    )
    outcome = BackfillOutcome(scope)
    if scope.total > 0:
        outcome = _run(plan, scope)
    _print(_summary(plan, outcome), args.format)
    if not outcome.complete:
        _say(f"backfill {plan.id} stopped: run the same command to go on")
    return 0 if outcome.complete and outcome.failures == 0 else 1


def _run(plan: BackfillPlan, scope: BackfillScope) -> BackfillOutcome:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("backfill stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return run_backfill(plan.settings, plan.id, scope, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _describe(plan: BackfillPlan) -> dict[str, Any]:
    return {
        "from": iso_time(plan.from_ms),
        "to": iso_time(plan.to_ms),
        "topics": list(plan.topics),
        "connection": plan.connection,
        "max_requests_per_second": plan.caps,
    }


def _summary(plan: BackfillPlan, outcome: BackfillOutcome) -> dict[str, Any]:
    scope = outcome.scope
    return {
        "backfill": plan.id,
        "state": "complete" if outcome.complete else "interrupted",
        **_describe(plan),
        "records": scope.total,
        "settled": scope.done,
        "by_status": dict(sorted(outcome.by_status.items())),
        "by_connection": {
            name: dict(sorted(counts.items()))
            for name, counts in sorted(outcome.by_connection.items())
        },
        "delivered_by_event_name": dict(sorted(outcome.by_event_name.items())),
    }


def _print(summary: dict[str, Any], output: str) -> None:
    if output == "json":
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {name:<30}{_cell(count)}" for name, count in value.items()]
        else:
            lines.append(f"{key:<32}{_cell(value)}")
    sys.stdout.write("\n".join(lines) + "\n")


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return "  ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "-" if value is None else str(value)


def _say(line: str) -> None:
    """A line for the operator (stderr: stdout holds the summary)."""
    print(line, file=sys.stderr)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value
