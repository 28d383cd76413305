"""The Spotify sink's throughput: `.venv/bin/python -m bench.sink_bench [--events N]`.

The sandbox runs in this process (its own event loop thread, light validation, no bodies kept,
so that it is not the bottleneck); the sink runs in a spawned process, fed as the pipeline
would feed it (chunks of events, pausing while more than `--max-unsettled` lack an outcome),
and times everything from the first add to the last outcome. Its process CPU time per event is
reported too: that is the sink's own cost, whatever the machine's load. A second run injects
faults (429, 503, dropped connections) to show the price of retries. Every event must end
DELIVERED and the sandbox must have accepted each event id exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import platform
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from capi_devtools.sandbox import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_TOKEN,
    FaultSettings,
    SandboxSettings,
    SandboxThread,
)
from connector.config import SinkSettings, SpotifySettings
from connector.sink import SendOutcome, SinkItem, SpotifySink


def build_items(count: int) -> list[SinkItem]:
    event_time = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    made = []
    for n in range(count):
        digest = hashlib.sha256(f"user{n}@example.com".encode()).hexdigest()
        event_id = f"order-{n:09d}"
        wire = {
            "event_id": event_id,
            "event_name": "PURCHASE",
            "event_time": event_time,
            "action_source": "WEB",
            "opt_out_targeting": True,
            "event_source_url": "https://shop.example/thanks",
            "user_data": {
                "ip_address": "203.0.113.12",
                "device_id": f"device-{n}",
                "hashed_emails": [digest],
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            },
            "event_details": {"amount": 100.0, "currency": "USD", "content_name": "Shoes"},
        }
        made.append(SinkItem(ref=n, event_id=event_id, payload=orjson.dumps(wire)))
    return made


async def drive(url: str, items: Sequence[SinkItem], args: dict[str, Any]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    attempts: Counter[int] = Counter()
    settled = asyncio.Event()

    def record(outcomes: Sequence[SendOutcome]) -> None:
        settled.set()
        for outcome in outcomes:
            statuses[outcome.status.value] += 1
            attempts[outcome.attempts] += 1

    spotify = SpotifySettings(
        url=url, token=SecretStr(DEFAULT_TOKEN), connection_id=DEFAULT_CONNECTION_ID
    )
    settings = SinkSettings(
        batch_size=args["batch"],
        linger_ms=20,
        max_in_flight=args["in_flight"],
        max_attempts=20,
        backoff_initial_s=0.01,
        backoff_max_s=0.5,
    )
    chunk, ceiling = 500, args["max_unsettled"]
    async with SpotifySink(spotify, settings, record, rng=random.Random(1)) as sink:
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(items), chunk):
            for one in items[start : start + chunk]:
                sink.add(one)
            while sink.in_flight_events > ceiling:  # the pipeline pauses its partitions here
                settled.clear()
                await settled.wait()
        drained = await sink.flush(timeout=600)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "drained": drained,
        "wall_s": wall,
        "cpu_s": cpu,
        "statuses": dict(statuses),
        "attempts": dict(attempts),
    }


def sink_process(url: str, events: int, args: dict[str, Any], results: Any) -> None:
    items = build_items(events)
    results.put(asyncio.run(drive(url, items, args)))


def measure(events: int, faults: FaultSettings, args: dict[str, Any]) -> dict[str, Any]:
    settings = SandboxSettings(validation="light", keep_bodies=False, faults=faults)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    with SandboxThread(settings) as sandbox:
        sink = context.Process(target=sink_process, args=(sandbox.url, events, args, results))
        sink.start()
        row: dict[str, Any] = results.get(timeout=900)
        sink.join()
        stats = sandbox.state.stats()
    assert row["drained"], row
    assert row["statuses"] == {"DELIVERED": events}, row["statuses"]
    assert stats.events_accepted == events, stats
    assert stats.duplicate_events == 0, stats
    row["requests"] = stats.requests_total
    row["by_status"] = stats.requests_by_status
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100, help="sink batch_size")
    parser.add_argument("--in-flight", type=int, default=8, help="sink max_in_flight")
    parser.add_argument("--max-unsettled", type=int, default=5_000)
    args = parser.parse_args()
    knobs = {"batch": args.batch, "in_flight": args.in_flight, "max_unsettled": args.max_unsettled}
    print(
        f"{platform.processor() or platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}; {args.events} events, "
        f"batch {args.batch}, {args.in_flight} in flight"
    )
    runs = {
        "clean": FaultSettings(),
        "faults": FaultSettings(seed=3, share_429=0.05, share_503=0.05, share_drop=0.02),
    }
    print(f"{'run':<8}{'events/s':>10}{'sink CPU µs/event':>19}{'requests':>10}  answers")
    for name, faults in runs.items():
        row = measure(args.events, faults, knobs)
        print(
            f"{name:<8}{args.events / row['wall_s']:>10,.0f}"
            f"{row['cpu_s'] / args.events * 1e6:>19.1f}{row['requests']:>10}  {row['by_status']}"
        )


if __name__ == "__main__":
    main()
