"""The pipeline under API faults: throttling, one bad event in a batch, a refused token."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from capi_devtools.sandbox import DEFAULT_TOKEN, SandboxSettings, SandboxThread
from capi_devtools.sandbox.settings import FaultSettings
from connector.config import SinkSettings
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import (
    committed_and_end_offsets,
    connector_topics,
    header_map,
    produce_events,
    read_all,
    read_results,
)

pytestmark = pytest.mark.integration


def test_throttling_and_unavailability_are_retried_until_everything_is_delivered(
    kafka_bootstrap: str,
) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=2)
    total = 2000
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(total)), partitions=2)
    faults = FaultSettings(seed=11, share_429=0.15, share_503=0.15, retry_after_s=1)
    with SandboxThread(SandboxSettings(faults=faults)) as sandbox:
        settings = connector_settings(
            kafka_bootstrap, topic, sandbox.url, sink=SinkSettings(max_attempts=30)
        )
        with ConnectorThread(settings) as connector:
            results = connector.wait_for_results(total, timeout_s=180)
        stats = sandbox.state.stats()
        accepted = sandbox.state.accepted_ids()
    assert Counter(r.status.value for r in results) == {"DELIVERED": total}
    assert set(accepted) == {f"order-{i:07d}" for i in range(total)}
    refused = stats.requests_by_status.get("429", 0) + stats.requests_by_status.get("503", 0)
    assert refused > 0
    assert max(r.attempts for r in results) > 1
    assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=2) == []


def test_one_event_refused_by_spotify_is_dead_lettered_and_its_batch_delivered(
    kafka_bootstrap: str,
) -> None:
    topic = connector_topics(kafka_bootstrap)
    records = [tracking_record(i) for i in range(100)]
    # Valid for the transform (no maximum age set) but too old for this Spotify sandbox.
    records[42]["properties"]["$event_time"] = "2023-01-01T00:00:00Z"
    produce_events(kafka_bootstrap, topic, records)
    sandbox_settings = SandboxSettings(max_event_age_s=365 * 86400.0)
    with SandboxThread(sandbox_settings) as sandbox:
        settings = connector_settings(
            kafka_bootstrap, topic, sandbox.url, sink=SinkSettings(batch_size=100, linger_ms=500)
        )
        with ConnectorThread(settings) as connector:
            results = connector.wait_for_results(100)
        accepted = sandbox.state.accepted_ids()
    by_id = {r.event_id: r for r in results}
    refused = by_id["order-0000042"]
    assert refused.status.value == "REJECTED_SPOTIFY"
    assert refused.http_status == 400
    assert refused.error_message is not None
    assert "event_time" in refused.error_message
    assert sorted(accepted) == sorted(f"order-{i:07d}" for i in range(100) if i != 42)
    assert Counter(r.status.value for r in results) == {"DELIVERED": 99, "REJECTED_SPOTIFY": 1}
    dead = read_all(kafka_bootstrap, f"{topic}-dlq", 1)
    assert len(dead) == 1
    headers = header_map(dead[0])
    assert headers["capi.event_id"] == b"order-0000042"
    assert headers["capi.error.stage"] == b"spotify"
    assert headers["capi.http_status"] == b"400"
    assert headers["capi.source.offset"] == b"42"


def test_a_refused_token_commits_nothing_until_it_is_accepted(kafka_bootstrap: str) -> None:
    topic = connector_topics(kafka_bootstrap)
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(300)))
    with SandboxThread(SandboxSettings(tokens=("a-different-token",))) as sandbox:  # type: ignore[arg-type]
        settings = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            sink=SinkSettings(auth_retry_interval_s=0.5, backoff_initial_s=0.05),
        )
        with ConnectorThread(settings) as connector:
            deadline = time.monotonic() + 30
            while not connector.pipeline.status.auth_failing and time.monotonic() < deadline:
                time.sleep(0.1)
            assert connector.pipeline.status.auth_failing
            time.sleep(2.0)  # several slow retries while the token is refused
            assert connector.results == []
            assert connector.pipeline.status.paused == 1
            committed, _ = committed_and_end_offsets(
                kafka_bootstrap, settings.kafka.group_id, topic, 1
            )
            assert committed[0] <= 0  # no record's offset committed (0 = before the first)
            assert sandbox.state.accepted_ids() == {}

            sandbox.configure(tokens=["a-different-token", DEFAULT_TOKEN])
            results = connector.wait_for_results(300, timeout_s=60)
            deadline = time.monotonic() + 10
            while connector.pipeline.status.auth_failing and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not connector.pipeline.status.auth_failing
        assert Counter(r.status.value for r in results) == {"DELIVERED": 300}
        assert len(sandbox.state.accepted_ids()) == 300
    committed, ends = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 1)
    assert committed == ends == [300]
    assert len(read_results(kafka_bootstrap, f"{topic}-results", 300)) == 300
