"""The cost of operations on the hot path: metrics per result and per request, a scrape, and
the report's counting per result record.

Command: `.venv/bin/python -m bench.telemetry_bench --results 200000`
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from connector.commands.report import Summary
from connector.config import Settings
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates
from connector.observe.telemetry import Telemetry
from connector.ports import PipelineStatus


def per_call_us(count: int, began: float) -> float:
    return (time.perf_counter() - began) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=200_000)
    args = parser.parse_args()
    n = args.results
    telemetry = Telemetry(Settings())
    status = PipelineStatus()
    status.lag = {("events", p): p * 10 for p in range(12)}
    telemetry.watch(status)
    results = [
        DeliveryResult(
            coordinates=SourceCoordinates("events", i % 12, i, 1_000),
            status=DeliveryStatus.DELIVERED if i % 50 else DeliveryStatus.REJECTED_SPOTIFY,
            received_at_ms=1_500,
            settled_at_ms=2_000 + i % 997,
            event_id=f"order-{i}",
            event_name="PURCHASE",
            event_time_ms=900,
            error_code=None if i % 50 else "spotify_400",
        )
        for i in range(n)
    ]
    began = time.perf_counter()
    for start in range(0, n, 500):  # the pipeline reports a batch of results at a time
        telemetry.on_results(results[start : start + 500])
    print(f"Telemetry.on_results     {per_call_us(n, began):7.2f} µs per result (batches of 500)")

    requests = n // 100
    observer = telemetry.sink_observer
    began = time.perf_counter()
    for i in range(requests):
        observer.on_request(200, 100, 0.05 + (i % 7) / 100)
    print(f"SinkMetrics.on_request   {per_call_us(requests, began):7.2f} µs per request")

    scrapes = 200
    began = time.perf_counter()
    size = 0
    for _ in range(scrapes):
        size = len(telemetry.scrape())
    print(f"scrape (/metrics body)   {per_call_us(scrapes, began) / 1000:7.2f} ms, {size} bytes")

    records = [
        {
            "source_topic": "events",
            "source_partition": i % 12,
            "source_offset": i,
            "event_id": f"order-{i}",
            "event_name": "PURCHASE",
            "status": "DELIVERED" if i % 50 else "REJECTED_SPOTIFY",
            "error_code": None if i % 50 else "spotify_400",
            "settled_at": datetime.fromtimestamp(1_795_000_000 + i / 1000, UTC),
            "latency_ms": i % 997,
        }
        for i in range(n)
    ]
    summary = Summary()
    began = time.perf_counter()
    for record in records:
        summary.add(record)
    summary.to_wire()
    print(f"report Summary.add       {per_call_us(n, began):7.2f} µs per result record")


if __name__ == "__main__":
    main()
