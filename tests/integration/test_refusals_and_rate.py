"""Learned refusals and the request-rate cap on a real run: real broker, the sandbox over HTTP,
the connector's own probes and metrics.

- A Spotify that refuses `clickID` on every event: each event is delivered once, without it,
  for a handful of refused requests in all (not three requests an event); results, /readyz and
  the metrics say so.
- A cap of 20 requests a second with batches of 20 (`run` in its own process): no second of more
  at the sandbox, every event delivered, the backlog of unsettled records bounded by
  `pipeline.max_unsettled` (the partitions pause), and the process's memory flat while it waits.
Every wait here is for a state the run reaches (results, metrics), never for a time it takes.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from capi_devtools.localinfra.kafka import free_port
from capi_devtools.sandbox import FaultSettings, SandboxSettings, SandboxThread
from tests.integration.test_ops_metrics import RunningConnector, total, value
from tests.support.connector import connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import (
    committed_and_end_offsets,
    connector_topics,
    produce_events,
    read_all,
    read_results,
)
from tests.support.process import ConnectorProcess, connector_env

pytestmark = pytest.mark.integration

CLICK = "user_data.clickID"


def test_a_field_refused_on_every_event_is_learned_once_and_left_out(
    kafka_bootstrap: str,
) -> None:
    events = 3000
    topic = connector_topics(kafka_bootstrap, partitions=2)
    records = [tracking_record(i) for i in range(events)]
    assert all("$spclid" in r["properties"] for r in records)
    produce_events(kafka_bootstrap, topic, records, partitions=2)
    refuse = SandboxSettings(
        keep_bodies=False, faults=FaultSettings(refuse_user_data_keys=("clickID",))
    )
    with SandboxThread(refuse) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with RunningConnector(settings) as connector:
            connector.wait_settled(events)
            samples = connector.metrics()
            status, readiness = connector.readiness()
        stats = sandbox.state.stats()
        accepted = sandbox.state.accepted_ids()

    assert accepted == {r["properties"]["$event_id"]: 1 for r in records}
    assert stats.requests_total <= events // 10  # ≤ 0.1 request an event (healing alone: ~3)
    assert stats.requests_by_status["200"] == events // 100  # one accepted request a batch
    results = read_results(kafka_bootstrap, f"{topic}-results", events)
    assert Counter(r["status"] for r in results) == {"DELIVERED": events}
    assert {f"spotify_400_removed:{CLICK}" in r["warnings"] for r in results} == {True}
    assert {"click_id" in r["identifiers"] for r in results} == {False}
    assert {"click_id:refused" in r["identifiers_dropped"] for r in results} == {True}
    assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=2) == []
    assert status == 200
    detail = readiness["checks"]["refused_fields"]["detail"]
    assert detail.startswith(f"{CLICK} stripped on default since 20")
    field = {"spotify_capi_field": CLICK, "connection": "default"}
    assert value(samples, "spotify_capi_fields_stripped_total", **field) == events
    assert value(samples, "spotify_capi_fields_stripped_since_seconds", **field) > 1.7e9
    assert total(samples, "spotify_capi_fields_removed_total") == 0  # nothing needed healing


def test_a_capped_connector_keeps_to_the_cap_with_a_bounded_backlog(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`run` in its own process (its memory is its own), scraped on its health port."""
    events, batch, cap = 6000, 20, 20
    max_unsettled, poll_batch = 400, 100
    topic = connector_topics(kafka_bootstrap, partitions=2)
    produce_events(
        kafka_bootstrap, topic, [tracking_record(i) for i in range(events)], partitions=2
    )
    port = free_port()
    with SandboxThread(SandboxSettings(keep_bodies=False)) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        env = connector_env(
            settings,
            CONNECTOR_SINK__BATCH_SIZE=str(batch),
            CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND=str(cap),
            CONNECTOR_PIPELINE__MAX_UNSETTLED=str(max_unsettled),
            CONNECTOR_PIPELINE__POLL_BATCH_SIZE=str(poll_batch),
            CONNECTOR_TELEMETRY__HEALTH_PORT=str(port),
        )
        log = tmp_path / "run.log"
        started = time.monotonic()
        process = ConnectorProcess(env, log)
        samples: list[dict[str, float]] = []  # delivered, in flight, paused, resident bytes
        try:
            deadline = time.monotonic() + 600  # a guard against a hang, not a pace
            while not samples or samples[-1]["delivered"] < events:
                assert process.alive(), log.read_text()[-2000:]
                assert time.monotonic() < deadline, "the capped run never delivered everything"
                scraped = scrape(port)
                if scraped is not None:
                    samples.append({**scraped, "rss": resident_bytes(process.process.pid)})
                time.sleep(0.2)
            waited = scrape(port) or {}
        finally:
            assert process.terminate() == 0, log.read_text()[-2000:]
        took_s = time.monotonic() - started
        stats = sandbox.state.stats()
        accepted = sandbox.state.accepted_ids()

    assert len(accepted) == events
    assert stats.requests_by_status == {"200": events // batch}
    assert stats.busiest_second <= cap + 2
    assert took_s >= (events // batch - 1) / cap  # the cap, not the machine, set the pace
    assert waited["rate_wait_s"] > 0
    # The backlog stays bounded: the partitions pause at max_unsettled (a poll may add a batch).
    assert max(s["in_flight"] for s in samples) <= max_unsettled + poll_batch
    assert max(s["paused"] for s in samples) == 2
    # And so does memory: past the first quarter, the second half needs no more than the rest.
    early = [s["rss"] for s in samples if events // 4 <= s["delivered"] < events // 2]
    late = [s["rss"] for s in samples if s["delivered"] >= events // 2]
    assert len(early) > 5
    assert len(late) > 5
    assert max(late) - max(early) < 16 * 1024 * 1024, (max(early), max(late))
    results = read_results(kafka_bootstrap, f"{topic}-results", events)
    assert Counter(r["status"] for r in results) == {"DELIVERED": events}
    committed, ends = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 2)
    assert committed == ends


def scrape(port: int) -> dict[str, float] | None:
    """The figures this test follows, from the connector's /metrics (None before it serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            body = answer.read().decode()
    except OSError:
        return None
    found = {"delivered": 0.0, "in_flight": 0.0, "paused": 0.0, "rate_wait_s": 0.0}
    names = {
        "spotify_capi_events_delivered_total": "delivered",
        "spotify_capi_events_in_flight": "in_flight",
        "spotify_capi_partitions_paused": "paused",
        "spotify_capi_rate_limit_wait_seconds_total": "rate_wait_s",
    }
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name in names:
                found[names[sample.name]] += sample.value
    return found


def resident_bytes(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
