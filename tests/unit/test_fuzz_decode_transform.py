"""Fuzzing decode + transform, the path every Kafka record takes before the sink.

Whatever the bytes (random, a valid record with bits flipped or cut, Confluent framing with any
schema id) and whatever the property bag, a record ends as an event that passes the sandbox's
full contract checks, or as a typed refusal: DecodeError with a reason, or a transform
rejection other than `transform_error` (the transform's net for its own bugs). Nothing raises,
and the canary email never reaches the wire or a message.
"""

from __future__ import annotations

import struct
from importlib import resources
from typing import Any, cast

import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capi_devtools.sandbox.validation import TimeRules, check_events
from connector.config import SPOTIFY_EVENT_NAMES, TransformSettings
from connector.errors import DecodeError
from connector.kafka.registry import Registry
from connector.models import Accepted, PropertyValue, Rejected, SourceCoordinates, TrackingEvent
from connector.prepare.decode import ConfluentDecoder, Decoder, SchemalessDecoder
from connector.schemas import avro
from connector.transform import Transformer
from connector.transform import mapping as m

NOW_MS = 1_790_000_000_000
SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)
SCHEMA_TEXT = (resources.files("connector.schemas") / "tracking_event.avsc").read_text("utf-8")
TRANSFORMER = Transformer(TransformSettings())
RULES = TimeRules(now=NOW_MS / 1000, max_clock_skew_s=300.0, max_event_age_s=None)
CANARY_EMAIL = "fuzz.canary@leak-check.example"
KNOWN_ID = 7
MAX_TIMESTAMP = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last one a datetime holds

PROPERTY_NAMES = sorted(
    {
        m.SPOTIFY_EVENT_NAME, m.ACTION_SOURCE, m.OPT_OUT_TARGETING, m.EVENT_SOURCE_URL,
        m.EVENT_ID, m.EVENT_TIME, m.EMAIL, m.PHONE, m.GENDER, m.AMOUNT, m.CURRENCY,
        m.CONTENT_NAME, m.CONTENT_CATEGORY, "$ip", "$device_id", "$user_agent", "$spclid",
        "request_ip_address", "event_ip_address", "age_group", "session_id",
    }
)  # fmt: skip
LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
VALUES: st.SearchStrategy[PropertyValue] = st.one_of(
    st.none(),
    st.booleans(),
    LONG,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["PURCHASE", "usd", "WEB", "2026-01-01T00:00:00Z", "203.0.113.9", "m"]),
    st.lists(st.text(max_size=20), max_size=4),
)
BAGS = st.dictionaries(
    st.one_of(st.sampled_from(PROPERTY_NAMES), st.text(max_size=12)), VALUES, max_size=12
)
NAMES = st.one_of(st.sampled_from(sorted(SPOTIFY_EVENT_NAMES)), st.text(max_size=20))
RECORDS = st.fixed_dictionaries(
    {
        "event": NAMES,
        "properties": st.builds(
            lambda bag, email: {**bag, **email},
            BAGS,
            st.sampled_from([{}, {m.EMAIL: CANARY_EMAIL}, {m.EMAIL: [CANARY_EMAIL, "x@y.z"]}]),
        ),
        "timestamp": st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=MAX_TIMESTAMP)),
        "user_id": st.one_of(st.none(), st.text(max_size=10)),
        "anonymous_id": st.none(),
        "message_id": st.none(),
    }
)


class FakeRegistry:
    """Knows one schema id (the bundled tracking event); any other id is a 404."""

    def get_schema(self, schema_id: int) -> Schema:
        if schema_id == KNOWN_ID:
            return Schema(SCHEMA_TEXT, "AVRO")
        raise SchemaRegistryError(404, 40403, "Schema not found")


SCHEMALESS = SchemalessDecoder()
CONFLUENT = ConfluentDecoder(Registry(cast(SchemaRegistryClient, FakeRegistry())))


def settle(decoder: Decoder, value: bytes) -> str:
    """What the pipeline does with these bytes: `event`, `decode:<reason>` or `reject:<reason>`."""
    try:
        event = decoder.decode(value)
    except DecodeError as exc:
        refusal = exc
    else:
        return _transformed(event)
    assert refusal.message
    return f"decode:{refusal.reason}"


def _transformed(event: TrackingEvent) -> str:
    outcome = TRANSFORMER.transform(event, SourceCoordinates("t", 0, 42), NOW_MS)
    if isinstance(outcome, Rejected):
        assert outcome.rejection.reason != "transform_error", outcome.rejection
        assert CANARY_EMAIL not in outcome.rejection.message
        return f"reject:{outcome.rejection.reason}"
    assert isinstance(outcome, Accepted)
    wire = outcome.event.to_wire()
    body = orjson.dumps(wire)
    assert CANARY_EMAIL.encode() not in body  # an email leaves as its hash only
    assert check_events([wire], RULES) == []
    return "event"


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(value=st.binary(min_size=0, max_size=400))
def test_random_bytes_are_refused_with_a_reason(value: bytes) -> None:
    assert settle(SCHEMALESS, value).startswith(("decode:", "reject:", "event"))
    assert settle(CONFLUENT, value).startswith(("decode:", "reject:", "event"))


@FUZZ
@given(record=RECORDS)
def test_any_valid_record_ends_as_an_event_or_a_rejection(record: dict[str, Any]) -> None:
    value = avro.encode(SCHEMA, record)
    outcome = settle(SCHEMALESS, value)
    assert not outcome.startswith("decode:"), outcome  # valid Avro always decodes
    framed = b"\x00" + struct.pack(">I", KNOWN_ID) + value
    assert settle(CONFLUENT, framed) == outcome  # the same event whichever the framing


@FUZZ
@given(record=RECORDS, data=st.data())
def test_damaged_records_never_raise(record: dict[str, Any], data: st.DataObject) -> None:
    value = bytearray(avro.encode(SCHEMA, record))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
        value[position] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    cut = data.draw(st.integers(min_value=0, max_value=len(value)))
    settle(SCHEMALESS, bytes(value))
    settle(SCHEMALESS, bytes(value[:cut]))


@FUZZ
@given(schema_id=st.integers(min_value=0, max_value=2**32 - 1), payload=st.binary(max_size=200))
def test_confluent_framing_with_any_schema_id(schema_id: int, payload: bytes) -> None:
    outcome = settle(CONFLUENT, b"\x00" + struct.pack(">I", schema_id) + payload)
    if schema_id != KNOWN_ID:
        assert outcome == "decode:unknown_schema_id"


def test_a_timestamp_past_year_9999_is_an_event_in_the_future_not_a_crash() -> None:
    """The decoder reads timestamp-millis as plain epoch ms (no datetime that could overflow);
    the transform then refuses the time with a reason."""
    record = {"event": "View", "properties": {"$ip": "203.0.113.1"}}
    last = avro.encode(SCHEMA, {**record, "timestamp": MAX_TIMESTAMP})
    beyond = avro.encode(SCHEMA, {**record, "timestamp": MAX_TIMESTAMP + 1})
    huge = avro.encode(SCHEMA, {**record, "timestamp": 2**62})
    assert settle(SCHEMALESS, last) == "reject:event_time_in_future"
    assert settle(SCHEMALESS, beyond) == "reject:event_time_in_future"
    assert settle(SCHEMALESS, huge) == "reject:event_time_in_future"


def test_the_reasons_seen_are_the_documented_ones() -> None:
    """A fixed corpus: the reasons a dead letter can carry from decode."""
    valid = avro.encode(SCHEMA, {"event": "View", "properties": {"$ip": "203.0.113.1"}})
    assert settle(SCHEMALESS, valid) == "event"
    assert settle(SCHEMALESS, b"") == "decode:empty_value"
    assert settle(SCHEMALESS, valid[:-3]) == "decode:invalid_avro"
    assert settle(SCHEMALESS, b"x" * 1_000_001) == "decode:record_too_large"
    assert settle(CONFLUENT, valid) == "decode:not_confluent_framed"
    assert settle(CONFLUENT, b"\x00\x00\x00\x00\x08" + valid) == "decode:unknown_schema_id"
    assert settle(CONFLUENT, b"\x00" + struct.pack(">I", KNOWN_ID) + valid) == "event"
