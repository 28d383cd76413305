"""Writing Confluent-framed records through the real Schema Registry of the session, and the
writer schemas the tests register."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer


def registry_client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url, "timeout": 20})


def avro_serializer(client: SchemaRegistryClient, schema_text: str) -> AvroSerializer:
    # The classic TopicNameStrategy: newer clients first ask for "associations", an API the
    # Confluent-compatible registry here (Apicurio) does not serve.
    conf = {"subject.name.strategy": topic_subject_name_strategy}
    serializer: AvroSerializer = AvroSerializer(client, schema_text, conf=conf)
    return serializer


def evolved_schema_text() -> str:
    """The producer's next schema version: the bundled one with one optional field more."""
    from connector.schemas import avro

    schema: dict[str, Any] = json.loads(avro.bundled_text(avro.TRACKING_EVENT))
    schema["fields"].append({"name": "source_app", "type": ["null", "string"], "default": None})
    return json.dumps(schema)
