"""`spotify-capi-connector reconcile`: did Spotify count what the connector delivered?

Reads the connector's DELIVERED results (by connection, event name and hour or day of
`settled_at`) and each connection's dataset diagnostics from Spotify's Ads API (connector/
reconcile/), and prints them side by side with the gap per event name and bucket; buckets still
inside Spotify's processing delay are pending, not gaps. It names the likely cause where it can:
a CAPI integration not linked to its dataset, no CAPI activity at all, a whole event name
missing.

Needs the `ads_api` settings (OAuth client id, client secret and refresh token; business and
dataset ids per connection), never the CAPI token; exit 2 naming what is missing. Exit 0 when
nothing delivered is missing at Spotify, 1 when a gap shows, 3 when Kafka or the Ads API cannot
be reached.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from connector.commands.report import iso_time, parse_time, read_results
from connector.reconcile.compare import Reconciliation
from connector.reconcile.counts import bucket_of

NAME = "reconcile"
HELP = "compare what was delivered with what Spotify's dataset diagnostics counted"

_DEFAULT_WINDOW_MS = 24 * 3_600_000


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file (environment wins)")
    parser.add_argument(
        "--since",
        type=parse_time,
        help="from T (ISO 8601 or an age like 24h; default 24h), down to its hour or day",
    )
    parser.add_argument("--granularity", choices=("hour", "day"), default="hour")
    parser.add_argument(
        "--connection",
        action="append",
        dest="connections",
        metavar="NAME",
        help="only this connection (repeatable; default: every connection)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from connector.assemble import load_settings  # the parts judge what only they can
    from connector.errors import InputError
    from connector.reconcile.window import reconcile_window, require_ads_api

    settings = load_settings(args.config)
    known = list(settings.spotify_connections())
    connections = args.connections or known
    unknown = sorted(set(connections) - set(known))
    if unknown:
        raise InputError(f"--connection {', '.join(unknown)}: no such connection")
    require_ads_api(settings, connections)
    now_ms = time.time_ns() // 1_000_000
    since_ms = bucket_of(args.since or now_ms - _DEFAULT_WINDOW_MS, args.granularity)
    outcome = reconcile_window(
        settings,
        connections,
        args.granularity,
        since_ms,
        read_results(settings.kafka, since_ms),
    )
    wire = to_wire(outcome, since_ms, args.granularity, settings.ads_api.processing_delay_s)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(wire, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_table(wire))
    return 1 if outcome.gap > 0 else 0


def to_wire(
    outcome: Reconciliation, since_ms: int, granularity: str, delay_s: float
) -> dict[str, Any]:
    return {
        "since": iso_time(since_ms),
        "granularity": granularity,
        "processing_delay_s": delay_s,
        "rows": [
            {
                "connection": row.connection,
                "event_name": row.event_name,
                "bucket": iso_time(row.bucket_ms),
                "delivered": row.delivered,
                "counted": row.counted,
                "gap": row.gap,
                "state": row.state,
            }
            for row in outcome.rows
        ],
        "totals": [
            {
                "connection": total.connection,
                "event_name": total.event_name,
                "delivered": total.delivered,
                "counted": total.counted,
                "gap": total.gap,
                "gap_ratio": round(total.gap_ratio, 4),
            }
            for total in outcome.totals
        ],
        "causes": outcome.causes,
        "gap": outcome.gap,
    }


def render_table(wire: dict[str, Any]) -> str:
    delay_min = wire["processing_delay_s"] / 60
    lines = [
        f"delivered (results) vs counted (Spotify's dataset diagnostics), by {wire['granularity']}"
        f" since {wire['since']}; pending: inside the {delay_min:g} min processing delay",
        "",
        f"  {'connection':<16}{'event name':<16}{'bucket (UTC)':<26}"
        f"{'delivered':>10}{'counted':>10}{'gap':>8}  state",
    ]
    lines += [
        f"  {r['connection']:<16}{r['event_name']:<16}{r['bucket']:<26}"
        f"{r['delivered']:>10}{r['counted']:>10}{r['gap']:>8}  {r['state']}"
        for r in wire["rows"]
    ]
    lines += ["", "  totals of the compared buckets"]
    lines += [
        f"  {t['connection']:<16}{t['event_name']:<16}delivered {t['delivered']:<8} "
        f"counted {t['counted']:<8} gap {t['gap']} ({t['gap_ratio']:.1%})"
        for t in wire["totals"]
    ]
    if wire["causes"]:
        lines += ["", "  likely causes", *(f"  - {cause}" for cause in wire["causes"])]
    return "\n".join(lines) + "\n"
