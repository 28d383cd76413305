"""The connector end to end: real broker, real sandbox over HTTP, offsets committed after ack."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from capi_devtools.sandbox import SandboxThread
from connector.config import PipelineSettings
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import (
    committed_and_end_offsets,
    connector_topics,
    header_map,
    produce,
    produce_events,
    read_all,
    read_results,
    wait_until_committed,
)

pytestmark = pytest.mark.integration

# Decoding and transforming in the Kafka thread, and in two prepare processes.
prepare_processes = pytest.mark.parametrize("processes", [0, 2], ids=["in-thread", "2-processes"])


def _pipeline(processes: int) -> PipelineSettings:
    return PipelineSettings(commit_interval_s=0.5, drain_timeout_s=20, prepare_processes=processes)


@prepare_processes
def test_ten_thousand_events_are_delivered_and_committed(
    kafka_bootstrap: str, processes: int
) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=3)
    total = 10_000
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(total)), partitions=3)
    with SandboxThread() as sandbox:
        settings = connector_settings(
            kafka_bootstrap, topic, sandbox.url, pipeline=_pipeline(processes)
        )
        started = time.monotonic()
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(total)
        elapsed = time.monotonic() - started
        accepted = sandbox.state.accepted_ids()
    print(f"\n10,000 events delivered in {elapsed:.1f} s ({total / elapsed:,.0f} events/s)")
    assert set(accepted) == {f"order-{i:07d}" for i in range(total)}
    committed, ends = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 3)
    assert committed == ends
    assert sum(ends) == total
    results = read_results(kafka_bootstrap, f"{topic}-results", total)
    assert len(results) == total
    assert Counter(r["status"] for r in results) == {"DELIVERED": total}
    assert {r["event_id"] for r in results} == set(accepted)
    assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=2) == []


def test_a_caught_up_connector_commits_without_waiting_for_the_interval(
    kafka_bootstrap: str,
) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=2)
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(500)), partitions=2)
    with SandboxThread() as sandbox:
        pipeline = PipelineSettings(commit_interval_s=3600, drain_timeout_s=20)
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url, pipeline=pipeline)
        group = settings.kafka.group_id
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(500)
            # Read while it still runs, an hour before the interval: only the commit made when
            # it caught up can be there (the stop's own commit comes after this block).
            committed = wait_until_committed(kafka_bootstrap, group, topic, 2, timeout_s=30)
    assert committed == [250, 250]


@prepare_processes
def test_invalid_and_undecodable_records_are_dead_lettered_and_the_rest_delivered(
    kafka_bootstrap: str, processes: int
) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=1)
    from connector.schemas import avro

    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    values: list[bytes | None] = [avro.encode(schema, tracking_record(i)) for i in range(20)]
    values[3] = b"\x00\x01not avro at all"
    values[7] = avro.encode(schema, tracking_record(7, spotify_event_name="DANCE"))
    values[11] = avro.encode(schema, tracking_record(11, currency=None, amount=None))
    values[15] = None
    produce(kafka_bootstrap, topic, values)
    with SandboxThread() as sandbox:
        settings = connector_settings(
            kafka_bootstrap, topic, sandbox.url, pipeline=_pipeline(processes)
        )
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(20)
        accepted = sandbox.state.accepted_ids()
    bad = {3, 7, 11, 15}
    assert set(accepted) == {f"order-{i:07d}" for i in range(20) if i not in bad}
    results = {r["source_offset"]: r for r in read_results(kafka_bootstrap, f"{topic}-results", 20)}
    assert len(results) == 20
    assert results[3]["status"] == "UNDECODABLE"
    assert results[7]["status"] == "REJECTED_TRANSFORM"
    assert results[7]["error_code"] == "invalid_event_name"
    assert results[11]["status"] == "REJECTED_TRANSFORM"
    assert results[15]["status"] == "UNDECODABLE"
    assert results[15]["error_code"] == "empty_value"
    assert all(results[i]["status"] == "DELIVERED" for i in range(20) if i not in bad)
    dead = read_all(kafka_bootstrap, f"{topic}-dlq", 4)
    assert len(dead) == 4
    headers = [header_map(m) for m in dead]
    by_offset = {int(h["capi.source.offset"]): h for h in headers}
    assert sorted(by_offset) == sorted(bad)
    assert by_offset[3]["capi.error.stage"] == b"decode"
    assert by_offset[7]["capi.error.reason"] == b"invalid_event_name"
    assert by_offset[7]["capi.error.stage"] == b"transform"
    assert {m.value() for m in dead if m.key() == b"3"} == {values[3]}
    committed, ends = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 1)
    assert committed == ends == [20]
