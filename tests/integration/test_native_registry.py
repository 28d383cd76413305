"""The native path on the Confluent wire format against a real Schema Registry (Apicurio's
Confluent API): records of our schema, of the producer's next version (one optional field more)
and of a writer schema it cannot plan (timestamp-micros), written by confluent-kafka's own
serializer.

- The preparer: every record comes out of the native path byte for byte as the Python path makes
  it (or is declined), each id is looked up once through the registry client, and once an id is
  planned the native path takes its warning-free events; the unplannable id is Python's alone.
- The connector: every event is delivered, and the native path prepared the records of the ids it
  planned (the counts the metric `spotify_capi.prepare.records` reads).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from importlib import resources
from typing import Any

import pytest
from confluent_kafka.serialization import MessageField, SerializationContext

from capi_devtools.samples import DEMO_EVENT_NAME_MAPPING, typical_events
from capi_devtools.sandbox import SandboxThread
from connector.config import DecodeSettings, RoutingSettings, Settings, TransformSettings
from connector.models import SourceCoordinates
from connector.prepare.preparer import NATIVE, Preparer, Ready
from tests.support import differential
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.kafka import create_topics, produce
from tests.support.registry import avro_serializer, evolved_schema_text, registry_client

pytestmark = [pytest.mark.integration, pytest.mark.registry]

NOW_MS = differential.NOW_MS
START_MS = 1_767_225_600_000


def _ours() -> str:
    return resources.files("connector.schemas").joinpath("tracking_event.avsc").read_text()


def _micros() -> str:
    schema: dict[str, Any] = json.loads(_ours())
    for field in schema["fields"]:
        if field["name"] == "timestamp":
            field["type"] = ["null", {"type": "long", "logicalType": "timestamp-micros"}]
    return json.dumps(schema)


SCHEMAS = {"ours": _ours, "evolved": evolved_schema_text, "micros": _micros}


def _records(registry_url: str, count: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` typical events, written in turn with each schema (each its own subject)."""
    client = registry_client(registry_url)
    suffix = uuid.uuid4().hex[:8]
    serializers = {
        name: (
            avro_serializer(client, text()),
            SerializationContext(f"{name}-{suffix}", MessageField.VALUE),
        )
        for name, text in SCHEMAS.items()
    }
    written = []
    try:
        for n, event in enumerate(typical_events(count, seed=seed)):
            name = list(SCHEMAS)[n % len(SCHEMAS)]
            serializer, context = serializers[name]
            record = differential.with_groups(event)
            if name == "evolved":
                record = {**record, "source_app": "ios"}
            if name == "micros" and record["timestamp"] is not None:
                record = {**record, "timestamp": record["timestamp"] * 1000}
            value = serializer(record, context)
            assert value is not None
            written.append((name, value))
    finally:
        client.close()
    return written


@pytest.mark.parametrize(
    "transform",
    [
        TransformSettings(event_name_mapping=DEMO_EVENT_NAME_MAPPING),
        differential.category_allow_list_settings(),
    ],
    ids=["defaults", "category_allow_list"],
)
def test_registry_records_prepare_natively_as_in_python(
    schema_registry: str, transform: TransformSettings
) -> None:
    written = _records(schema_registry, 600, seed=12)
    decode = DecodeSettings(format="confluent", schema_registry_url=schema_registry)
    native = Preparer(decode, transform, RoutingSettings())
    python = Preparer(decode, transform, RoutingSettings(), native=False)
    lookups: list[int] = []
    client = native._decoder._registry._client  # type: ignore[attr-defined]
    real_get_schema = client.get_schema

    def counting_get_schema(schema_id: int, *args: Any, **kwargs: Any) -> Any:
        lookups.append(schema_id)
        return real_get_schema(schema_id, *args, **kwargs)

    client.get_schema = counting_get_schema
    batch = [(v, SourceCoordinates("events", 0, n, START_MS)) for n, (_, v) in enumerate(written)]
    try:
        expected = [differential.prepared_json(p) for p in python.prepare(batch, NOW_MS)]
        for _ in range(2):  # the second time with every id planned
            found = [differential.prepared_json(p) for p in native.prepare(batch, NOW_MS)]
            assert [
                (n, e, f) for n, (e, f) in enumerate(zip(expected, found, strict=True)) if e != f
            ] == []
        assert sorted(Counter(lookups).values()) == [1, 1, 1]  # each id once
        assert native._native is not None
        taken = native._native.prepare_batch(batch, NOW_MS)
        slow = python.prepare(batch, NOW_MS)
        for (name, _), fast, outcome in zip(written, taken, slow, strict=True):
            clean = isinstance(outcome, Ready) and not outcome.warnings
            assert (type(fast) is not int) == (clean and name != "micros"), name
        assert native.counts[("python", "writer_schema")] == 200  # the second round's micros
    finally:
        native.close()
        python.close()


def test_the_connector_delivers_every_registry_event_natively(
    kafka_bootstrap: str, schema_registry: str
) -> None:
    topic = f"registry-native-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, f"{topic}-results", f"{topic}-dlq")
    first = [v for _, v in _records(schema_registry, 30, seed=13)]
    rest = [v for _, v in _records(schema_registry, 600, seed=14)]
    with SandboxThread() as sandbox:
        base = connector_settings(kafka_bootstrap, topic, sandbox.url)
        settings = Settings(
            **{
                **base.model_dump(),
                "decode": DecodeSettings(format="confluent", schema_registry_url=schema_registry),
                "transform": TransformSettings(event_name_mapping=DEMO_EVENT_NAME_MAPPING),
            }
        )
        with ConnectorThread(settings) as connector:
            produce(kafka_bootstrap, topic, first)  # each id planned from its first batch
            connector.wait_for_results(len(first))
            produce(kafka_bootstrap, topic, rest)
            results = connector.wait_for_results(len(first) + len(rest))
            counts = connector.pipeline.prepare.counts
        accepted = sandbox.state.accepted_ids()
    assert Counter(r.status.value for r in results) == {"DELIVERED": len(first) + len(rest)}
    assert len(set(accepted)) == len(first) + len(rest)
    assert connector.pipeline.prepare.native
    # Of the 600 after the first batch, a third are the micros id's (Python's) and one in eight
    # of the others carries a warning (a short phone): the native path took the rest.
    assert counts[NATIVE] >= 330
    assert counts[("python", "writer_schema")] >= 190
