"""Learned refusals and the request-rate cap on a real run: real broker, the sandbox over HTTP,
the connector's own probes and metrics.

- A Spotify that refuses `clickID` on every event: each event is delivered once, without it,
  for a handful of refused requests in all (not three requests an event); results, /readyz and
  the metrics say so.
- A cap of 20 requests a second with batches of 20: no second of more at the sandbox, every
  event delivered, the backlog of unsettled records bounded by `pipeline.max_unsettled` (the
  partitions pause), and the process's memory flat while it waits.
Every wait here is for a state the run reaches (results, metrics), never for a time it takes.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from capi_devtools.sandbox import FaultSettings, SandboxSettings, SandboxThread
from connector.config import PipelineSettings, SinkSettings
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
    kafka_bootstrap: str,
) -> None:
    events, batch, cap = 4000, 20, 20
    max_unsettled, poll_batch = 400, 100
    topic = connector_topics(kafka_bootstrap, partitions=2)
    produce_events(
        kafka_bootstrap, topic, [tracking_record(i) for i in range(events)], partitions=2
    )
    with SandboxThread(SandboxSettings(keep_bodies=False)) as sandbox:
        settings = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            sink=SinkSettings(batch_size=batch, max_requests_per_second=cap),
            pipeline=PipelineSettings(
                max_unsettled=max_unsettled, poll_batch_size=poll_batch, commit_interval_s=0.5
            ),
        )
        started = time.monotonic()
        with RunningConnector(settings) as connector:
            in_flight: list[float] = []
            paused: list[float] = []
            memory: list[tuple[float, float]] = []  # (delivered, resident bytes)

            def sample() -> bool:
                samples = connector.metrics()
                delivered = total(samples, "spotify_capi_events_delivered_total")
                in_flight.append(value(samples, "spotify_capi_events_in_flight"))
                paused.append(value(samples, "spotify_capi_partitions_paused"))
                memory.append((delivered, value(samples, "process_resident_memory_bytes")))
                return delivered >= events

            connector.wait_until("every event delivered", sample, timeout_s=600)
            waited = value(
                connector.metrics(), "spotify_capi_rate_limit_wait_seconds_total",
                connection="default",
            )  # fmt: skip
        took_s = time.monotonic() - started
        stats = sandbox.state.stats()
        accepted = sandbox.state.accepted_ids()

    assert len(accepted) == events
    assert stats.requests_by_status == {"200": events // batch}
    assert stats.busiest_second <= cap + 2
    assert took_s >= (events // batch - 1) / cap  # the cap, not the machine, set the pace
    assert waited > 0
    # The backlog stays bounded: the partitions pause at max_unsettled (a poll may add a batch).
    assert max(in_flight) <= max_unsettled + poll_batch
    assert max(paused) == 2
    # And so does memory: from a quarter of the run to its end, resident memory stays flat.
    later = [rss for delivered, rss in memory if delivered >= events // 4]
    assert len(later) > 10
    assert max(later) - min(later) < 16 * 1024 * 1024
    results = read_results(kafka_bootstrap, f"{topic}-results", events)
    assert Counter(r["status"] for r in results) == {"DELIVERED": events}
    committed, ends = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 2)
    assert committed == ends
