"""A fetched message becomes its SourceRecord field by field (built positionally: hot path)."""

from __future__ import annotations

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, Message

from connector.kafka.source import source_record
from connector.models import SourceCoordinates, SourceRecord


def test_every_part_of_a_message_lands_in_its_own_field() -> None:
    message = Message(
        "events",
        3,
        41,
        b"key",
        b"value",
        [("trace", b"t-1"), ("empty", None)],
        None,
        (TIMESTAMP_CREATE_TIME, 1_700),
    )
    record = source_record(message, 2_000)
    assert type(record) is SourceRecord
    assert type(record.coordinates) is SourceCoordinates
    assert record._asdict() == {
        "coordinates": SourceCoordinates("events", 3, 41, 1_700),
        "key": b"key",
        "value": b"value",
        "headers": (("trace", b"t-1"), ("empty", b"")),
        "received_at_ms": 2_000,
    }
    assert record.coordinates._asdict() == {
        "topic": "events",
        "partition": 3,
        "offset": 41,
        "timestamp_ms": 1_700,
    }


def test_a_message_without_timestamp_or_headers() -> None:
    message = Message("events", 0, 7, None, None, None, None, (TIMESTAMP_NOT_AVAILABLE, -1))
    assert source_record(message, 2_000) == SourceRecord(
        SourceCoordinates("events", 0, 7, None), None, None, (), 2_000
    )
