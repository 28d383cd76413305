"""`kafka.results_format`: results as JSON and in the Confluent wire format, read back from the
real broker (and, for `confluent`, through the real Schema Registry with confluent-kafka's own
AvroDeserializer). Dead letters stay the source record with its headers, whatever the format."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from capi_devtools.sandbox import SandboxThread
from connector import __version__
from connector.config import DecodeSettings, KafkaSettings, Settings
from connector.models import DeliveryResult
from connector.schemas import avro
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import create_topics, header_map, read_all
from tests.support.registry import registry_client

pytestmark = pytest.mark.integration

EVENTS = 6  # then one the transform refuses (no identifier), with a header of its own
_NO_IDS = {"$ip": None, "email": None, "phone": None, "$device_id": None}


def _produce_mix(bootstrap: str, topic: str) -> bytes:
    """The valid events, then the invalid one; returns the invalid one's value."""
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    records = [tracking_record(i, phone="12") for i in range(EVENTS)]
    records.append(tracking_record(EVENTS, **_NO_IDS))
    values = [avro.encode(schema, r) for r in records]
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for index, value in enumerate(values):
        producer.produce(
            topic, value=value, key=str(index).encode(), headers=[("trace", f"t-{index}".encode())]
        )
    assert producer.flush(30) == 0
    return values[-1]


def _run(settings: Settings) -> list[DeliveryResult]:
    with SandboxThread() as sandbox:
        settings = Settings(
            **{
                **settings.model_dump(),
                "spotify": {**settings.spotify.model_dump(), "url": sandbox.url},
            }
        )
        with ConnectorThread(settings) as connector:
            return connector.wait_for_results(EVENTS + 1)


def _settings(bootstrap: str, topic: str, results_format: str, **decode: Any) -> Settings:
    base = connector_settings(bootstrap, topic, "http://127.0.0.1:1")
    return Settings(
        **{
            **base.model_dump(),
            "kafka": KafkaSettings(**{**base.kafka.model_dump(), "results_format": results_format}),
            "decode": DecodeSettings(**decode),
        }
    )


def _expected(result: DeliveryResult) -> dict[str, Any]:
    """A result as every format must carry it, by value."""
    c = result.coordinates
    return {
        "source_topic": c.topic,
        "source_partition": c.partition,
        "source_offset": c.offset,
        "event_id": result.event_id,
        "event_name": result.event_name,
        "status": result.status.value,
        "http_status": result.http_status,
        "error_code": result.error_code,
        "error_field": result.error_field,
        "error_message": result.error_message,
        "attempts": result.attempts,
        "received_at": result.received_at_ms,
        "settled_at": result.settled_at_ms,
        "event_time": result.event_time_ms,
        "latency_ms": result.settled_at_ms - result.received_at_ms,
        "sp_trace_id": result.sp_trace_id,
        "warnings": list(result.warnings),
        "connector_version": __version__,
        "connection": result.connection,
        "identifiers": list(result.identifiers),
        "email_count": result.email_count,
        "identifiers_dropped": list(result.identifiers_dropped),
        "backfill": None,  # the live run's
        # Every event here carries its own $event_id (tracking_record's order-<n>)
        "event_id_source": None if result.event_id is None else "event",
    }


def _assert_dead_letter_is_the_source_record(bootstrap: str, topic: str, value: bytes) -> None:
    [dead] = read_all(bootstrap, f"{topic}-dlq", 1)
    assert dead.value() == value
    assert dead.key() == str(EVENTS).encode()
    headers = header_map(dead)
    assert headers["trace"] == f"t-{EVENTS}".encode()
    assert headers["capi.error.reason"] == b"no_user_identifier"


def test_json_results_are_one_object_each_with_the_avro_fields(kafka_bootstrap: str) -> None:
    topic = f"fmt-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, f"{topic}-results", f"{topic}-dlq")
    invalid = _produce_mix(kafka_bootstrap, topic)
    results = _run(_settings(kafka_bootstrap, topic, "json"))
    messages = read_all(kafka_bootstrap, f"{topic}-results", EVENTS + 1)
    assert {header_map(m)["content-type"] for m in messages} == {b"application/json"}
    written = sorted(
        (orjson.loads(m.value() or b"") for m in messages), key=lambda r: r["source_offset"]
    )
    assert written == [_expected(r) for r in sorted(results, key=lambda r: r.coordinates.offset)]
    first = written[0]
    assert (first["status"], first["identifiers"], first["identifiers_dropped"]) == (
        "DELIVERED",
        ["email", "ip", "device_id", "click_id"],
        ["phone:invalid"],
    )
    assert first["email_count"] == 1
    assert written[-1]["status"] == "REJECTED_TRANSFORM"
    _assert_dead_letter_is_the_source_record(kafka_bootstrap, topic, invalid)


def _schema_before_identifiers() -> str:
    """The results schema as it was before the identifier, backfill and event_id_source fields:
    the registry's version 1."""
    parsed = json.loads(avro.bundled_text(avro.DELIVERY_RESULT))
    parsed["fields"] = [
        f
        for f in parsed["fields"]
        if f["name"]
        not in ("identifiers", "email_count", "identifiers_dropped", "backfill", "event_id_source")
    ]
    return json.dumps(parsed)


@pytest.mark.registry
def test_confluent_results_register_an_evolved_schema_and_read_back_with_avro_deserializer(
    kafka_bootstrap: str, schema_registry: str
) -> None:
    topic = f"fmt-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, f"{topic}-results", f"{topic}-dlq")
    subject = f"{topic}-results-value"
    client = registry_client(schema_registry)
    first_id = client.register_schema(subject, Schema(_schema_before_identifiers(), "AVRO"))
    client.set_compatibility(subject, "BACKWARD")
    invalid = _produce_mix(kafka_bootstrap, topic)
    settings = _settings(kafka_bootstrap, topic, "confluent", schema_registry_url=schema_registry)
    results = _run(settings)
    versions = client.get_versions(subject)
    latest = client.get_latest_version(subject)
    deserializer = AvroDeserializer(client)
    context = SerializationContext(f"{topic}-results", MessageField.VALUE)
    messages = read_all(kafka_bootstrap, f"{topic}-results", EVENTS + 1)
    written = sorted(
        (deserializer(m.value(), context) for m in messages), key=lambda r: r["source_offset"]
    )
    client.close()
    assert len(versions) == 2  # the evolved schema was accepted as BACKWARD compatible
    assert latest.schema_id != first_id
    assert latest.schema_id is not None
    framing = b"\x00" + latest.schema_id.to_bytes(4, "big")  # magic byte, schema id
    assert {(m.value() or b"")[:5] for m in messages} == {framing}
    expected = [_expected(r) for r in sorted(results, key=lambda r: r.coordinates.offset)]
    for record in written:  # the deserializer gives timestamp-millis as datetimes
        for name in ("received_at", "settled_at", "event_time"):
            if record[name] is not None:
                record[name] = round(record[name].timestamp() * 1000)
    assert written == expected
    assert written[0]["identifiers_dropped"] == ["phone:invalid"]
    _assert_dead_letter_is_the_source_record(kafka_bootstrap, topic, invalid)
