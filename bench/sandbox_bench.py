"""The sandbox's own throughput: `.venv/bin/python -m bench.sandbox_bench [--requests N]`.

The sandbox runs in this process (its own event loop thread); a client in a separate process
(multiprocessing, spawned) sends batches of realistic events (every field of the contract set)
with a fixed number of requests in flight, and times only the sending. Each request carries new
event ids, so the sandbox's id counts grow as they would in a long test. Run once per validation
level; the figure is accepted events per second as the client saw them, cross-checked against
the sandbox's own count.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import platform
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from capi_devtools.sandbox import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_TOKEN,
    SandboxSettings,
    SandboxThread,
)
from capi_devtools.sandbox.settings import ValidationLevel


def build_bodies(requests: int, batch: int) -> list[bytes]:
    event_time = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    bodies = []
    for r in range(requests):
        events = []
        for e in range(batch):
            n = r * batch + e
            digest = hashlib.sha256(f"user{n}@example.com".encode()).hexdigest()
            events.append(
                {
                    "event_id": f"order-{n:09d}",
                    "event_name": "PURCHASE",
                    "event_time": event_time,
                    "action_source": "WEB",
                    "opt_out_targeting": True,
                    "event_source_url": "https://shop.example/thanks",
                    "user_data": {
                        "ip_address": "203.0.113.12",
                        "device_id": f"device-{n}",
                        "hashed_emails": [digest],
                        "hashed_phone_number": hashlib.sha256(digest.encode()).hexdigest(),
                        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                        "gender": "FEMALE",
                    },
                    "event_details": {
                        "amount": 100.0 + e,
                        "currency": "USD",
                        "content_name": "Shoes",
                        "content_category": "Apparel & Accessories",
                    },
                }
            )
        envelope = {
            "conversion_events": {"capi_connection_id": DEFAULT_CONNECTION_ID, "events": events}
        }
        bodies.append(orjson.dumps(envelope))
    return bodies


async def drive(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, Counter[int]]:
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Content-Type": "application/json"}
    statuses: Counter[int] = Counter()
    pending = iter(bodies)

    async def worker(session: aiohttp.ClientSession) -> None:
        for body in pending:  # the workers share one iterator: each body is sent once
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, statuses


def client_process(url: str, requests: int, batch: int, concurrency: int, results: Any) -> None:
    bodies = build_bodies(requests, batch)
    elapsed, statuses = asyncio.run(drive(url, bodies, concurrency))
    results.put((elapsed, dict(statuses), sum(map(len, bodies)) / len(bodies)))


def measure(
    validation: ValidationLevel, keep_bodies: bool, requests: int, batch: int, concurrency: int
) -> dict[str, Any]:
    settings = SandboxSettings(validation=validation, keep_bodies=keep_bodies)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    with SandboxThread(settings) as sandbox:
        client = context.Process(
            target=client_process, args=(sandbox.url, requests, batch, concurrency, results)
        )
        client.start()
        elapsed, statuses, body_bytes = results.get(timeout=600)
        client.join()
        stats = sandbox.state.stats()
    assert statuses == {200: requests}, statuses
    assert stats.events_accepted == requests * batch
    return {
        "validation": validation,
        "keep_bodies": keep_bodies,
        "events_per_s": requests * batch / elapsed,
        "requests_per_s": requests / elapsed,
        "body_kib": body_bytes / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per run")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}; "
        f"{args.requests} requests x {args.batch} events, {args.concurrency} in flight"
    )
    print(f"{'validation':<11}{'bodies kept':<13}{'events/s':>10}{'requests/s':>12}{'KiB/req':>9}")
    runs: tuple[tuple[ValidationLevel, bool], ...] = (
        ("full", True),
        ("full", False),
        ("light", False),
    )
    for validation, keep_bodies in runs:
        row = measure(validation, keep_bodies, args.requests, args.batch, args.concurrency)
        print(
            f"{row['validation']:<11}{row['keep_bodies']!s:<13}{row['events_per_s']:>10,.0f}"
            f"{row['requests_per_s']:>12,.0f}{row['body_kib']:>9.1f}"
        )


if __name__ == "__main__":
    main()
