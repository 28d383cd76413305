"""The Confluent wire format against a real Schema Registry (Apicurio's Confluent API)."""

from __future__ import annotations

import json
import struct
import uuid
from collections import Counter
from importlib import resources
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from capi_devtools.sandbox import SandboxThread
from connector.config import DecodeSettings, Settings
from connector.errors import DecodeError
from connector.kafka.registry import Registry
from connector.prepare.decode import ConfluentDecoder
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import create_topics, produce, read_results
from tests.support.registry import avro_serializer, registry_client

pytestmark = [pytest.mark.integration, pytest.mark.registry]


def _schema_text() -> str:
    return resources.files("connector.schemas").joinpath("tracking_event.avsc").read_text()


def _serializer(registry_url: str, schema: str) -> tuple[AvroSerializer, SchemaRegistryClient]:
    client = registry_client(registry_url)
    return avro_serializer(client, schema), client


def _evolved_schema() -> str:
    """A writer schema that evolved: a field the connector does not know, with a default."""
    parsed: dict[str, Any] = json.loads(_schema_text())
    parsed["fields"].append({"name": "source_app", "type": "string", "default": "web"})
    return json.dumps(parsed)


def test_records_in_confluent_format_are_decoded_through_the_registry(
    kafka_bootstrap: str, schema_registry: str
) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic)
    create_topics(kafka_bootstrap, f"{topic}-results", f"{topic}-dlq")
    serializer, client = _serializer(schema_registry, _evolved_schema())
    context = SerializationContext(topic, MessageField.VALUE)
    values: list[bytes | None] = []
    for i in range(50):
        record = {**tracking_record(i), "source_app": "ios"}
        values.append(serializer(record, context))
    client.close()
    values[10] = b"\x00" + struct.pack(">I", 987_654) + b"\x02ab"  # an id the registry lacks
    values[20] = b"plain bytes, no magic byte"
    produce(kafka_bootstrap, topic, values)

    with SandboxThread() as sandbox:
        base = connector_settings(kafka_bootstrap, topic, sandbox.url)
        settings = Settings(
            **{
                **base.model_dump(),
                "decode": DecodeSettings(format="confluent", schema_registry_url=schema_registry),
            }
        )
        with ConnectorThread(settings) as connector:
            results = connector.wait_for_results(50)
        accepted = sandbox.state.accepted_ids()
    assert set(accepted) == {f"order-{i:07d}" for i in range(50) if i not in (10, 20)}
    by_offset = {r.coordinates.offset: r for r in results}
    assert by_offset[10].status.value == "UNDECODABLE"
    assert by_offset[10].error_code == "unknown_schema_id"
    assert by_offset[20].error_code == "not_confluent_framed"
    assert Counter(r.status.value for r in results) == {"DELIVERED": 48, "UNDECODABLE": 2}
    assert len(read_results(kafka_bootstrap, f"{topic}-results", 50)) == 50


def test_the_decoder_looks_each_schema_id_up_once(schema_registry: str) -> None:
    topic = f"cache-{uuid.uuid4().hex[:8]}"
    serializer, client = _serializer(schema_registry, _schema_text())
    context = SerializationContext(topic, MessageField.VALUE)
    payloads = [serializer(tracking_record(i), context) for i in range(3)]
    lookups: list[int] = []
    real_get_schema = client.get_schema

    def counting_get_schema(schema_id: int, *args: Any, **kwargs: Any) -> Any:
        lookups.append(schema_id)
        return real_get_schema(schema_id, *args, **kwargs)

    client.get_schema = counting_get_schema  # type: ignore[method-assign]
    decoder = ConfluentDecoder(Registry(client))
    try:
        events = [decoder.decode(p) for p in payloads]
        with pytest.raises(DecodeError) as raised:
            decoder.decode(b"\x00" + struct.pack(">I", 999_999) + b"\x00")
    finally:
        decoder.close()
    assert [e.properties["$event_id"] for e in events] == [f"order-{i:07d}" for i in range(3)]
    assert lookups == [lookups[0], 999_999]  # the known id once, for three records
    assert raised.value.reason == "unknown_schema_id"
