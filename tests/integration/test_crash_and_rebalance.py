"""kill -9 in the middle of a run, and consumers joining and leaving: nothing is lost."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from capi_devtools.sandbox import FaultSettings, SandboxSettings, SandboxThread
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import (
    connector_topics,
    produce_events,
    read_results,
    wait_until_committed,
)
from tests.support.process import ConnectorProcess, connector_env

pytestmark = pytest.mark.integration


def test_kill_9_and_restart_delivers_every_event(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=3)
    total = 20_000
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(total)), partitions=3)
    with SandboxThread(SandboxSettings(keep_bodies=False)) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        # At most 40 requests of 100 events a second, so that the kill lands mid-run however
        # fast the connector is. Past the last poll that saw fewer than a quarter delivered, the
        # sandbox can take the requests then in flight (32) and those sent until the kill: the
        # cap's burst of 2 + 40 x (50 ms poll + the kill, 0.1 s) = 6; (32 + 6) x 100 = 3,800,
        # and 5,000 + 3,800 < 20,000 (the 11,200 to spare are 2.8 s at the cap).
        env = connector_env(
            settings,
            CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND="40",
            CONNECTOR_SINK__BATCH_SIZE="100",
            CONNECTOR_SINK__MAX_IN_FLIGHT="32",
        )
        first = ConnectorProcess(env, tmp_path / "run-1.log")
        deadline = time.monotonic() + 120
        while sandbox.state.stats().unique_event_ids < total // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()
        delivered_at_kill = sandbox.state.stats().unique_event_ids  # read after: an upper bound
        assert 0 < delivered_at_kill < total, "the kill must land in the middle of the run"

        second = ConnectorProcess(env, tmp_path / "run-2.log")
        try:
            wait_until_committed(kafka_bootstrap, settings.kafka.group_id, topic, 3, 180)
        finally:
            assert second.terminate() == 0
        accepted = sandbox.state.accepted_ids()
    assert set(accepted) == {f"order-{i:07d}" for i in range(total)}
    results = read_results(kafka_bootstrap, f"{topic}-results", total)
    by_offset = {(r["source_partition"], r["source_offset"]) for r in results}
    assert len(by_offset) == total  # every record has a result (some have two after the crash)
    assert Counter(r["status"] for r in results).keys() == {"DELIVERED"}
    duplicates = sum(accepted.values()) - total
    print(f"\nkilled after {delivered_at_kill} delivered; duplicates after restart: {duplicates}")


def test_a_consumer_joining_and_leaving_loses_nothing(kafka_bootstrap: str) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=4)
    total = 12_000
    records = [tracking_record(i) for i in range(total)]
    produce_events(kafka_bootstrap, topic, records[:3000], partitions=4)
    rng = random.Random(5)
    second_assigned = threading.Event()

    def produce_the_rest() -> None:  # new work keeps arriving on every partition
        for start in range(3000, total, 500):
            if start == total - 4500:
                # The last 4,500 only once the second consumer owns partitions: it then has
                # records of its own to deliver, however long its join took.
                second_assigned.wait(120)
            produce_events(kafka_bootstrap, topic, records[start : start + 500], partitions=4)
            time.sleep(0.25)

    with SandboxThread(SandboxSettings(keep_bodies=False)) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        producer = threading.Thread(target=produce_the_rest)
        with ConnectorThread(settings) as first:
            first.wait_for_results(1000)
            producer.start()
            with ConnectorThread(settings) as second:
                deadline = time.monotonic() + 60
                while second.pipeline.status.assigned == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert second.pipeline.status.assigned > 0  # it really took partitions
                second_assigned.set()
                second.wait_for_results(rng.randint(100, 400))  # it delivered, then it leaves
            producer.join()
            wait_until_committed(kafka_bootstrap, settings.kafka.group_id, topic, 4, 120)
        accepted = sandbox.state.accepted_ids()
    assert set(accepted) == {f"order-{i:07d}" for i in range(total)}
    results = read_results(kafka_bootstrap, f"{topic}-results", total)
    assert len({(r["source_partition"], r["source_offset"]) for r in results}) == total


def test_run_with_two_workers_shares_the_partitions(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=4)
    total = 4000
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(total)), partitions=4)
    # Slow Spotify answers (at most 500 events/s per worker: one request of 50 at a time, each
    # 100 ms or more) so that both workers share the work.
    slow = SandboxSettings(keep_bodies=False, faults=FaultSettings(latency_ms=100.0))
    with SandboxThread(slow) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        env = connector_env(
            settings, CONNECTOR_SINK__BATCH_SIZE="50", CONNECTOR_SINK__MAX_IN_FLIGHT="1"
        )
        log_path = tmp_path / "workers.log"
        supervisor = ConnectorProcess(env, log_path, workers=2)
        try:
            wait_until_committed(kafka_bootstrap, settings.kafka.group_id, topic, 4, 120)
            # A worker that joins after the other delivered everything still takes its share of
            # the partitions: wait for it rather than count on both joining before the end.
            deadline = time.monotonic() + 60
            while len(_assigned_pids(_log_lines(log_path))) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            assert supervisor.terminate() == 0
        accepted = sandbox.state.accepted_ids()
    assert set(accepted) == {f"order-{i:07d}" for i in range(total)}
    lines = _log_lines(log_path)
    assigned_pids = _assigned_pids(lines)
    assert len(assigned_pids) == 2  # both workers owned partitions
    assert {line["pid"] for line in lines if line["msg"] == "pipeline stopped"} == assigned_pids


def _log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines written so far (a line still being written is left out)."""
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.startswith("{")]


def _assigned_pids(lines: list[dict[str, Any]]) -> set[int]:
    return {line["pid"] for line in lines if line["msg"] == "partitions assigned"}
