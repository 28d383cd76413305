"""Poison records among good ones: each is dead-lettered with its reason, the run goes on.

Random bytes, truncated Avro, Confluent-framed garbage (read by the schemaless decoder: an
unknown schema id is the registry's case), an empty value and a tombstone, a record of several
MB, and valid Avro with absurd values. The absurd values that are still meaningful (amount 1e308
is a finite number; a 100 kB email is dropped as too long, the event keeps its other identifiers)
are delivered, not refused.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from importlib import resources
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from capi_devtools.sandbox import SandboxSettings, SandboxThread
from connector.config import DecodeSettings
from connector.schemas import avro
from tests.reliability.support import (
    assert_accounted_for,
    collect_end_state,
    make_topics,
    scaled,
    wait_until_committed,
)
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.registry import avro_serializer, registry_client

pytestmark = pytest.mark.reliability

PARTITIONS = 2
BIG = 8 * 1024 * 1024  # the test topics and producer take records this large
SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)


def _encode(record: dict[str, Any]) -> bytes:
    return avro.encode(SCHEMA, record)


def _poison(rng: random.Random) -> list[tuple[bytes | None, str]]:
    """(value, the reason its dead letter must carry)."""
    valid = _encode(tracking_record(9_000_000))
    cases: list[tuple[bytes | None, str]] = [
        (rng.randbytes(rng.randint(1, 300)), "invalid_avro") for _ in range(20)
    ]
    cases += [(valid[: rng.randint(1, len(valid) - 1)], "invalid_avro") for _ in range(10)]
    cases += [
        (b"\x00" + struct.pack(">I", 999_999) + rng.randbytes(rng.randint(0, 64)), "invalid_avro")
        for _ in range(5)
    ]
    cases += [(b"", "empty_value"), (None, "empty_value")]
    cases += [(rng.randbytes(3 * 1024 * 1024), "record_too_large")]
    oversized_event = tracking_record(9_000_001, content_name="x" * 2_000_000)
    cases += [(_encode(oversized_event), "record_too_large")]
    absurd: list[tuple[dict[str, Any], str]] = [
        (tracking_record(9_000_002, **{"$event_time": "9999-12-31T23:59:59Z"}),
         "event_time_in_future"),
        (tracking_record(9_000_003, spotify_event_name="🛒💳🎉"), "invalid_event_name"),
        (tracking_record(9_000_004, amount=-1e308), "invalid_amount"),
        (tracking_record(9_000_005, currency="💶💶💶"), "invalid_currency"),
    ]  # fmt: skip
    cases += [(_encode(record), reason) for record, reason in absurd]
    return cases


ABSURD_BUT_DELIVERED: dict[str, dict[str, Any]] = {
    "order-9100000": {"amount": 1e308},
    "order-9100001": {"email": "a" * 100_000 + "@example.com"},
    "order-9100002": {"content_name": "👟🎧🎉" * 300, "$device_id": "📱" * 40},
}


def test_poison_is_dead_lettered_with_its_reason_and_the_run_goes_on(kafka_bootstrap: str) -> None:
    rng = random.Random(99)
    good = scaled(ci=2_000, soak=20_000)
    topic = make_topics(kafka_bootstrap, PARTITIONS, topic_config={"max.message.bytes": str(BIG)})
    poison = _poison(rng)
    values: list[bytes | None] = [_encode(tracking_record(i)) for i in range(good)]
    for event_id, overrides in ABSURD_BUT_DELIVERED.items():
        values.append(_encode(tracking_record(0, **{"$event_id": event_id, **overrides})))
    for value, _reason in poison:  # spread over the run, not at its end
        values.insert(rng.randrange(len(values)), value)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": BIG + 4096})
    for index, value in enumerate(values):
        producer.produce(topic, value=value, key=str(index).encode(), partition=index % 2)
    assert producer.flush(60) == 0

    with SandboxThread(SandboxSettings()) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with ConnectorThread(settings) as connector:
            wait_until_committed(
                kafka_bootstrap,
                settings.kafka.group_id,
                topic,
                PARTITIONS,
                timeout_s=120,
                check=lambda: connector.wait_for_results(0, timeout_s=1),  # raises if it died
            )
        state = collect_end_state("poison", kafka_bootstrap, topic, sandbox, produced=len(values))
        bodies = {event_id: sandbox.state.body(event_id) for event_id in ABSURD_BUT_DELIVERED}

    print(state.report())
    delivered = {f"order-{i:07d}" for i in range(good)} | set(ABSURD_BUT_DELIVERED)
    assert_accounted_for(
        state, delivered, dead_letter_reasons=Counter(reason for _, reason in poison)
    )
    too_large = {
        k for k, reason in state.dead_letter_reasons.items() if reason == "record_too_large"
    }
    assert state.values_omitted == too_large  # over the producer's 1 MB: reason kept, value not
    huge_email = bodies["order-9100001"]
    assert huge_email is not None
    assert "hashed_emails" not in huge_email["user_data"]  # over transform.max_length.email
    assert huge_email["user_data"]["ip_address"] == tracking_record(0)["properties"]["$ip"]
    amount_body = bodies["order-9100000"]
    assert amount_body is not None
    assert amount_body["event_details"]["amount"] == 1e308


@pytest.mark.registry
def test_unknown_schema_ids_are_dead_lettered_through_a_real_registry(
    kafka_bootstrap: str, schema_registry: str
) -> None:
    """The `confluent` decoder against Apicurio: framing it cannot use is dead-lettered, the good
    records around it are delivered."""
    rng = random.Random(5)
    good = 200
    topic = make_topics(kafka_bootstrap, PARTITIONS)
    schema_text = resources.files("connector.schemas").joinpath("tracking_event.avsc").read_text()
    context = SerializationContext(topic, MessageField.VALUE)
    with registry_client(schema_registry) as client:
        serializer = avro_serializer(client, schema_text)
        values: list[bytes | None] = [serializer(tracking_record(i), context) for i in range(good)]
    poison: list[tuple[bytes, str]] = [
        (b"\x00" + struct.pack(">I", 900_000 + n) + rng.randbytes(40), "unknown_schema_id")
        for n in range(5)
    ]
    poison += [(_encode(tracking_record(9_000_010)), "not_confluent_framed")]  # schemaless
    poison += [(b"\x00\x00\x00", "not_confluent_framed")]  # shorter than the frame
    for bad, _reason in poison:
        values.insert(rng.randrange(len(values)), bad)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for index, value in enumerate(values):
        producer.produce(topic, value=value, key=str(index).encode(), partition=index % 2)
    assert producer.flush(60) == 0

    with SandboxThread(SandboxSettings(keep_bodies=False)) as sandbox:
        plain = connector_settings(kafka_bootstrap, topic, sandbox.url)
        decode = DecodeSettings(format="confluent", schema_registry_url=schema_registry)
        settings = plain.model_copy(update={"decode": decode})
        with ConnectorThread(settings) as connector:
            wait_until_committed(
                kafka_bootstrap,
                settings.kafka.group_id,
                topic,
                PARTITIONS,
                timeout_s=120,
                check=lambda: connector.wait_for_results(0, timeout_s=1),  # raises if it died
            )
        state = collect_end_state(
            "unknown schema ids", kafka_bootstrap, topic, sandbox, produced=len(values)
        )
    print(state.report())
    assert_accounted_for(
        state,
        {f"order-{i:07d}" for i in range(good)},
        dead_letter_reasons=Counter(reason for _, reason in poison),
    )
