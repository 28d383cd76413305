"""The direct result writer produces exactly fastavro's bytes for the bundled schema."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import orjson
from hypothesis import given
from hypothesis import strategies as st

from connector import __version__
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates
from connector.results.codec import encode_result, encode_result_json, result_record
from connector.schemas import avro
from connector.transform.event_id import derive_event_id

_LONGS = st.integers(min_value=0, max_value=2**62)
_TEXT = st.text(max_size=40)

results = st.builds(
    DeliveryResult,
    coordinates=st.builds(
        SourceCoordinates,
        topic=st.text(min_size=1, max_size=30),
        partition=st.integers(min_value=0, max_value=2**31 - 1),
        offset=_LONGS,
        timestamp_ms=st.none() | _LONGS,
    ),
    status=st.sampled_from(list(DeliveryStatus)),
    received_at_ms=st.integers(min_value=0, max_value=2**40),
    settled_at_ms=st.integers(min_value=0, max_value=2**40),
    event_id=st.none() | _TEXT,
    event_name=st.none() | _TEXT,
    event_time_ms=st.none() | st.integers(min_value=-(2**40), max_value=2**40),
    http_status=st.none() | st.integers(min_value=100, max_value=599),
    error_code=st.none() | _TEXT,
    error_field=st.none() | _TEXT,
    error_message=st.none() | st.text(max_size=300),
    attempts=st.integers(min_value=0, max_value=1000),
    sp_trace_id=st.none() | _TEXT,
    warnings=st.lists(_TEXT, max_size=4).map(tuple),
    connection=st.none() | _TEXT,
    identifiers=st.lists(_TEXT, max_size=5).map(tuple),
    email_count=st.integers(min_value=0, max_value=2**31 - 1),
    identifiers_dropped=st.lists(_TEXT, max_size=4).map(tuple),
)


@given(results)
def test_direct_writer_matches_fastavro(result: DeliveryResult) -> None:
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    assert encode_result(result) == avro.encode(schema, result_record(result))


@given(results, st.none() | st.text(min_size=1, max_size=80))
def test_a_backfills_results_name_it_as_fastavro_writes_it(
    result: DeliveryResult, backfill: str | None
) -> None:
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    written = encode_result(result, backfill)
    assert written == avro.encode(schema, result_record(result, backfill))
    assert avro.decode(schema, written)["backfill"] == backfill
    assert orjson.loads(encode_result_json(result, backfill))["backfill"] == backfill


@given(st.lists(results, min_size=2, max_size=6), st.lists(st.integers(0, 5), max_size=40))
def test_results_sharing_segments_match_fastavro(
    pool: list[DeliveryResult], picks: list[int]
) -> None:
    """Results repeating and alternating (the cached segments' last-key and dict paths) each
    still equal fastavro's bytes; a result differs from a cached one in its own fields."""
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    for pick in picks:
        result = pool[pick % len(pool)]
        for variant in (result, result._replace(coordinates=result.coordinates._replace(offset=7))):
            assert encode_result(variant) == avro.encode(schema, result_record(variant))


def test_more_answers_than_the_caches_hold_still_match_fastavro() -> None:
    """Past the bound the caches are emptied and refilled: every result keeps its bytes."""
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    for n in range(2_500):
        result = DeliveryResult(
            SourceCoordinates("events", n % 3, 1_000_000 + n), DeliveryStatus.DELIVERED,
            1_700_000_000_000 + n // 2, 1_700_000_000_250 + n, event_id=f"e-{n}",
            event_name=f"name-{n % 1_500}", event_time_ms=1_699_999_990_000 + n, http_status=200,
            attempts=1, sp_trace_id=f"trace-{n // 100}", identifiers=("email",), email_count=1,
        )  # fmt: skip
        assert encode_result(result) == avro.encode(schema, result_record(result))


def test_a_known_result_decodes_to_its_fields() -> None:
    result = DeliveryResult(
        coordinates=SourceCoordinates("events", 2, 41, None),
        status=DeliveryStatus.REJECTED_SPOTIFY,
        received_at_ms=1_700_000_000_000,
        settled_at_ms=1_700_000_000_250,
        event_id="order-1",
        event_name="PURCHASE",
        http_status=400,
        error_code="spotify_400",
        attempts=3,
        warnings=("invalid_gender:gender",),
        connection="brand_b",
    )
    decoded = avro.decode(avro.bundled_schema(avro.DELIVERY_RESULT), encode_result(result))
    assert decoded["source_offset"] == 41
    assert decoded["status"] == "REJECTED_SPOTIFY"
    assert decoded["latency_ms"] == 250
    assert decoded["http_status"] == 400
    assert decoded["warnings"] == ["invalid_gender:gender"]
    assert decoded["event_time"] is None
    assert decoded["connection"] == "brand_b"


def test_statuses_older_readers_know_keep_their_bytes() -> None:
    """New symbols are appended: a reader with the schema before SKIPPED_NO_CONSENT still reads
    every status it knew from what this writer writes."""
    older = json.loads((Path(avro.__file__).parent / "delivery_result.avsc").read_text())
    for schema_field in older["fields"]:
        if schema_field["name"] == "status":
            schema_field["type"]["symbols"].remove("SKIPPED_NO_CONSENT")
    older_parsed = fastavro.parse_schema(older)
    for status in DeliveryStatus:
        if status is DeliveryStatus.SKIPPED_NO_CONSENT:
            continue
        result = DeliveryResult(SourceCoordinates("events", 0, 1), status, 1, 2)
        assert avro.decode(older_parsed, encode_result(result))["status"] == status.value


def test_a_reader_without_the_connection_field_reads_every_other_field() -> None:
    """`connection` is the last field: a reader with the schema before it (results are
    schemaless, so its schema is the one it decodes with) stops before it and sees the rest."""
    older = json.loads((Path(avro.__file__).parent / "delivery_result.avsc").read_text())
    newer = ("connection", *_IDENTIFIER_FIELDS, "backfill", "event_id_source")
    older["fields"] = [f for f in older["fields"] if f["name"] not in newer]
    older_parsed = fastavro.parse_schema(older)
    result = DeliveryResult(
        SourceCoordinates("events", 1, 9), DeliveryStatus.DELIVERED, 1, 2, event_id="e-1",
        warnings=("w:x",), connection="brand_b", identifiers=("email", "ip"), email_count=2,
    )  # fmt: skip
    decoded = avro.decode(older_parsed, encode_result(result))
    current = avro.decode(avro.bundled_schema(avro.DELIVERY_RESULT), encode_result(result))
    assert decoded == {k: v for k, v in current.items() if k not in newer}
    assert current["connection"] == "brand_b"


_IDENTIFIER_FIELDS = ("identifiers", "email_count", "identifiers_dropped")


def test_a_reader_before_the_backfill_field_reads_a_backfills_results() -> None:
    """`backfill` is last, with a default (the registry's BACKWARD check passes): a reader of
    the schema before it reads a backfill's result field for field; the current one names it."""
    schema_file = Path(avro.__file__).parent / "delivery_result.avsc"
    older = json.loads(schema_file.read_text())
    later = ("backfill", "event_id_source")
    older["fields"] = [f for f in older["fields"] if f["name"] not in later]
    result = DeliveryResult(
        SourceCoordinates("events", 1, 9), DeliveryStatus.DELIVERED, 1, 2, connection="new_shop",
        identifiers=("email",), email_count=1,
    )  # fmt: skip
    written = encode_result(result, "last-week")
    decoded = avro.decode(fastavro.parse_schema(older), written)
    current = avro.decode(avro.bundled_schema(avro.DELIVERY_RESULT), written)
    assert decoded == {k: v for k, v in current.items() if k not in later}
    assert current["backfill"] == "last-week"
    assert (
        avro.decode(avro.bundled_schema(avro.DELIVERY_RESULT), encode_result(result))["backfill"]
        is None
    )


def test_a_reader_before_the_identifier_fields_reads_every_other_field() -> None:
    """The identifier fields come last, with defaults: a reader of the schema with
    `connection` but without them reads the rest; the current one reads them by value."""
    older = json.loads((Path(avro.__file__).parent / "delivery_result.avsc").read_text())
    newer = (*_IDENTIFIER_FIELDS, "backfill", "event_id_source")
    older["fields"] = [f for f in older["fields"] if f["name"] not in newer]
    result = DeliveryResult(
        SourceCoordinates("events", 1, 9), DeliveryStatus.DELIVERED, 1, 2, connection="default",
        identifiers=("email", "phone"), email_count=2, identifiers_dropped=("ip:placeholder",),
    )  # fmt: skip
    decoded = avro.decode(fastavro.parse_schema(older), encode_result(result))
    current = avro.decode(avro.bundled_schema(avro.DELIVERY_RESULT), encode_result(result))
    assert decoded == {k: v for k, v in current.items() if k not in newer}
    assert current["identifiers"] == ["email", "phone"]
    assert current["email_count"] == 2
    assert current["identifiers_dropped"] == ["ip:placeholder"]


def test_json_results_carry_the_same_fields_by_value() -> None:
    result = DeliveryResult(
        SourceCoordinates("events", 2, 41), DeliveryStatus.DELIVERED, 1_000, 1_250,
        event_id="order-1", event_name="PURCHASE", event_time_ms=900, http_status=200,
        attempts=1, connection="default", identifiers=("email", "ip"), email_count=1,
        identifiers_dropped=("phone:invalid",),
    )  # fmt: skip
    assert orjson.loads(encode_result_json(result)) == {
        "source_topic": "events",
        "source_partition": 2,
        "source_offset": 41,
        "event_id": "order-1",
        "event_name": "PURCHASE",
        "status": "DELIVERED",
        "http_status": 200,
        "error_code": None,
        "error_field": None,
        "error_message": None,
        "attempts": 1,
        "received_at": 1_000,
        "settled_at": 1_250,
        "event_time": 900,
        "latency_ms": 250,
        "sp_trace_id": None,
        "warnings": [],
        "connector_version": __version__,
        "connection": "default",
        "identifiers": ["email", "ip"],
        "email_count": 1,
        "identifiers_dropped": ["phone:invalid"],
        "backfill": None,
        "event_id_source": "event",
    }
    schema_fields = [
        f["name"] for f in json.loads(avro.bundled_text(avro.DELIVERY_RESULT))["fields"]
    ]
    assert list(orjson.loads(encode_result_json(result))) == schema_fields


def test_each_result_says_whether_its_event_id_was_the_events_or_derived() -> None:
    """A derived id is the UUIDv5 of the record's coordinates; any other id is the event's own
    (a UUIDv5 of other coordinates too); no id, no source. Avro and JSON say the same."""
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    here = SourceCoordinates("events", 3, 77)
    elsewhere = SourceCoordinates("events", 3, 78)
    cases = [
        (derive_event_id(here), "derived"),
        (derive_event_id(elsewhere), "event"),
        ("order-2026-0001", "event"),
        (None, None),
    ]
    for event_id, source in cases:
        result = DeliveryResult(here, DeliveryStatus.DELIVERED, 1, 2, event_id=event_id)
        assert avro.decode(schema, encode_result(result))["event_id_source"] == source
        assert orjson.loads(encode_result_json(result))["event_id_source"] == source
        assert encode_result(result) == avro.encode(schema, result_record(result))
