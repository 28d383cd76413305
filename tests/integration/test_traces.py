"""Traces end to end, read back from a real trace backend: records produced inside a producer's
trace (a W3C `traceparent` header), delivered by the connector configured only by the standard
OTEL_* variables; Jaeger (built by scripts/install-jaeger.sh) then holds a `process <topic>`
CONSUMER span linked to the producer's trace, with the Spotify requests as its children."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from capi_devtools.localinfra.jaeger import Jaeger
from capi_devtools.sandbox import SandboxThread
from connector.schemas import avro
from tests.chart.helm import require_tool
from tests.integration.test_ops_metrics import RunningConnector
from tests.support.connector import connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import connector_topics

pytestmark = pytest.mark.integration

PRODUCER_TRACE = uuid.uuid4().hex
PRODUCER_SPAN = uuid.uuid4().hex[:16]


@pytest.fixture(scope="module")
def jaeger() -> Iterator[Jaeger]:
    with Jaeger(require_tool("jaeger")) as server:
        yield server


def produce_traced(bootstrap: str, topic: str, total: int) -> None:
    """Half the records inside the producer's trace, half without a `traceparent`."""
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    traceparent = f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01".encode()
    for index in range(total):
        headers: list[tuple[str, str | bytes | None]] = (
            [("traceparent", traceparent)] if index % 2 == 0 else []
        )
        value = avro.encode(schema, tracking_record(index))
        producer.produce(topic, value=value, headers=headers)
    assert producer.flush(60) == 0


def spans_of(jaeger: Jaeger, service: str, want: int) -> list[dict[str, Any]]:
    """The service's spans, once Jaeger holds at least `want` (it indexes them a moment after)."""
    deadline = time.monotonic() + 60  # a guard against a hang
    while True:
        spans = [span for trace in jaeger.traces(service) for span in trace["spans"]]
        if len(spans) >= want or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def test_a_batch_span_reaches_jaeger_linked_to_the_producers_trace(
    kafka_bootstrap: str, jaeger: Jaeger, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = f"capi-traces-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.otlp_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SERVICE_NAME", service)
    total = 40
    topic = connector_topics(kafka_bootstrap)
    produce_traced(kafka_bootstrap, topic, total)
    with SandboxThread() as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with RunningConnector(settings) as connector:
            connector.wait_settled(total)
        # Leaving the run shut telemetry down: every span was exported.

    spans = spans_of(jaeger, service, want=2)
    batches = [s for s in spans if s["operationName"] == f"process {topic}"]
    assert batches, [s["operationName"] for s in spans]
    tags = {tag["key"]: tag["value"] for tag in batches[0]["tags"]}
    assert tags["span.kind"] == "consumer"
    assert tags["messaging.system"] == "kafka"
    assert tags["messaging.destination.name"] == topic
    assert tags["messaging.consumer.group.name"] == settings.kafka.group_id
    assert (
        sum(
            {t["key"]: t["value"] for t in b["tags"]}["messaging.batch.message_count"]
            for b in batches
        )
        == total
    )
    # Linked to the producer's trace (Jaeger shows a link as a FOLLOWS_FROM reference).
    linked = {
        (ref["traceID"], ref["spanID"])
        for batch in batches
        for ref in batch["references"]
        if ref["refType"] == "FOLLOWS_FROM"
    }
    assert linked == {(PRODUCER_TRACE, PRODUCER_SPAN)}
    # The Spotify requests are the batches' children.
    batch_ids = {batch["spanID"] for batch in batches}
    requests = [s for s in spans if s["operationName"].startswith("POST")]
    assert requests
    parents = {
        ref["spanID"]
        for request in requests
        for ref in request["references"]
        if ref["refType"] == "CHILD_OF"
    }
    assert parents <= batch_ids
    assert parents
