"""The record timestamp reaches the transform as epoch milliseconds, whatever logical type."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro

from connector.config import DecodeSettings
from connector.prepare.decode import build_decoder
from connector.schemas import avro

MS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


def test_bundled_timestamp_millis_decodes_to_the_same_milliseconds() -> None:
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    value = avro.encode(schema, {"event": "View", "properties": {}, "timestamp": MS})
    event = build_decoder(DecodeSettings()).decode(value)
    assert event.timestamp_ms == MS
    assert type(event.timestamp_ms) is int


def test_a_writer_with_timestamp_micros_is_still_converted_to_milliseconds(tmp_path: Path) -> None:
    bundled = json.loads(Path("schemas/tracking_event.avsc").read_text(encoding="utf-8"))
    for field in bundled["fields"]:
        if field["name"] == "timestamp":
            field["type"] = ["null", {"type": "long", "logicalType": "timestamp-micros"}]
    path = tmp_path / "writer.avsc"
    path.write_text(json.dumps(bundled), encoding="utf-8")
    writer = fastavro.parse_schema(bundled)
    value = avro.encode(writer, {"event": "View", "properties": {}, "timestamp": MS * 1000 + 7})
    event = build_decoder(DecodeSettings(writer_schema_path=path)).decode(value)
    assert event.timestamp_ms == MS


def test_plain_millis_drops_only_timestamp_millis() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "b", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        ],
    }
    assert avro.plain_millis(schema) == {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": {"type": "long"}},
            {"name": "b", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        ],
    }


def test_a_decoded_event_has_every_field_where_its_name_says() -> None:
    # decode builds TrackingEvent positionally (models.new_tuple): each field must land in place.
    record = {
        "event": "Order Completed",
        "properties": {"$ip": "203.0.113.9"},
        "timestamp": 1_767_225_600_123,
        "user_id": "user-1",
        "anonymous_id": "anon-2",
        "message_id": "msg-3",
    }
    event = build_decoder(DecodeSettings()).decode(
        avro.encode(avro.bundled_schema(avro.TRACKING_EVENT), record)
    )
    assert event._asdict() == {
        "event": "Order Completed",
        "properties": {"$ip": "203.0.113.9"},
        "timestamp_ms": 1_767_225_600_123,
        "user_id": "user-1",
        "anonymous_id": "anon-2",
        "message_id": "msg-3",
    }
