"""The specialised tracking-event reader against fastavro, which stays the reference.

For any record the bundled schema can hold, both return the same value; for bytes cut, flipped or
grown at random, the specialised reader either fails (it may be stricter) or returns exactly what
fastavro returns, and it never accepts what fastavro refuses.
"""

from __future__ import annotations

import io
import json
import math
import struct
from importlib import resources
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import DecodeError
from connector.prepare.decode import SchemalessDecoder, record_reader
from connector.prepare.reader import has_bundled_layout, read_tracking_event
from connector.schemas import avro
from tests.support.events import tracking_record

READING = avro.bundled_reading_schema(avro.TRACKING_EVENT)
SCHEMA_JSON = json.loads(
    (resources.files("connector.schemas") / "tracking_event.avsc").read_text("utf-8")
)
LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    LONG,
    st.floats(allow_nan=False),
    st.text(max_size=200),  # past 63 bytes a length takes two varint bytes
    st.lists(st.text(max_size=70), max_size=4),
)
RECORDS = st.fixed_dictionaries(
    {
        "event": st.text(max_size=80),
        "properties": st.dictionaries(st.text(max_size=70), VALUES, max_size=80),
        "timestamp": st.one_of(st.none(), LONG),
        "user_id": st.one_of(st.none(), st.text(max_size=20)),
        "anonymous_id": st.one_of(st.none(), st.text(max_size=20)),
        "message_id": st.one_of(st.none(), st.text(max_size=20)),
    }
)


def _fastavro(payload: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(payload), READING, None)


def _varint(value: int) -> bytes:
    zigzag, out = (value << 1) ^ (value >> 63), bytearray()
    while zigzag > 0x7F:
        out.append(zigzag & 0x7F | 0x80)
        zigzag >>= 7
    return bytes([*out, zigzag])


def _string(text: str) -> bytes:
    raw = text.encode()
    return _varint(len(raw)) + raw


@given(RECORDS)
@settings(max_examples=400, deadline=None)
def test_any_record_reads_as_fastavro_reads_it(record: dict[str, Any]) -> None:
    payload = avro.encode(READING, record)
    assert read_tracking_event(payload) == _fastavro(payload) == record


def test_a_full_property_bag_reads_as_fastavro_reads_it() -> None:
    record = tracking_record(7, tags=["a", "ü" * 40], count=-(2**63), ratio=-0.5, empty=None)
    record |= {"timestamp": 1_767_225_600_000, "message_id": "m-1"}
    payload = avro.encode(avro.bundled_schema(avro.TRACKING_EVENT), record)
    assert read_tracking_event(payload) == _fastavro(payload)
    assert read_tracking_event(payload)["properties"]["tags"] == ["a", "ü" * 40]
    assert read_tracking_event(payload)["timestamp"] == 1_767_225_600_000


def test_blocks_written_with_a_negative_count_and_their_size() -> None:
    """Java writers may frame a block as -count then its size in bytes."""
    entries = _string("k") + b"\x08" + _string("v") + _string("list") + b"\x0a"
    entries += _varint(-2) + _varint(4) + _string("x") + _string("y") + _varint(0)
    payload = _string("e") + _varint(-2) + _varint(999) + entries + _varint(0) + b"\x00" * 4
    expected = {"k": "v", "list": ["x", "y"]}
    assert read_tracking_event(payload)["properties"] == _fastavro(payload)["properties"]
    assert read_tracking_event(payload)["properties"] == expected


def _mutations() -> st.SearchStrategy[bytes]:
    record = tracking_record(0, n=-5, on=True, f=1.5, tags=["a"]) | {"message_id": "m-0"}
    valid = [avro.encode(READING, record), avro.encode(READING, tracking_record(1))]
    edits = st.lists(
        st.tuples(
            st.sampled_from(["set", "cut", "insert"]),
            st.integers(0, 2000),
            st.binary(min_size=1, max_size=1),
        ),
        min_size=1,
        max_size=3,
    )

    def apply(base: bytes, changes: list[tuple[str, int, bytes]]) -> bytes:
        data = bytearray(base)
        for kind, offset, byte in changes:
            at = offset % max(len(data), 1)
            if kind == "set" and data:
                data[at : at + 1] = byte
            elif kind == "cut":
                del data[at:]
            else:
                data[at:at] = byte
        return bytes(data)

    return st.builds(apply, st.sampled_from(valid), edits)


@given(_mutations())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_damaged_bytes_are_refused_or_read_exactly_as_fastavro_reads_them(payload: bytes) -> None:
    try:
        reference = _fastavro(payload)
    except Exception:  # any failure of the reference
        reference = None
    try:
        ours = read_tracking_event(payload)
    except (IndexError, ValueError, UnicodeDecodeError, EOFError, struct.error):
        return  # refused: allowed whether or not fastavro accepts it
    assert reference is not None, "accepted bytes that fastavro refuses"
    assert _same(ours, reference)


def _same(left: Any, right: Any) -> bool:
    """Equality that counts NaN equal to NaN (flipped bits make NaN doubles)."""
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return type(left) is type(right) and left == right


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_string("e") + b"\x02" + _string("k") + b"\x02\x07", "a boolean byte other than 0 or 1"),
        (_string("e") + b"\x02" + _string("k") + b"\x0c", "a union branch out of range"),
        (_string("e") + b"\x00\x04", "a union branch out of range"),
        (_string("e") + b"\x00\x00\x00\x00\x02\x05", "a negative length"),
        (_string("e") + b"\x02" + _string("k") + b"\x04" + b"\xff" * 11, "longer than 64 bits"),
    ],
)
def test_malformed_bytes_are_refused_with_the_reason(payload: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_tracking_event(payload)


@pytest.mark.parametrize("cut", [1, 3])
def test_a_cut_last_string_is_refused(cut: int) -> None:
    payload = avro.encode(READING, tracking_record(1) | {"message_id": "message-0001"})
    with pytest.raises(EOFError):
        read_tracking_event(payload[:-cut])
    with pytest.raises(DecodeError, match="not a tracking event: EOFError"):
        SchemalessDecoder().decode(payload[:-cut])


def _schema(**changes: Any) -> Any:
    return avro.reading_schema_from_text(json.dumps(SCHEMA_JSON | changes))


def test_only_the_bundled_layout_takes_the_specialised_reader() -> None:
    fields = SCHEMA_JSON["fields"]
    micros = [
        f | {"type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]}
        if f["name"] == "timestamp"
        else f
        for f in fields
    ]
    assert has_bundled_layout(READING)
    assert has_bundled_layout(_schema(doc="another writer's words"))
    assert not has_bundled_layout(_schema(fields=fields[:-1]))  # no message_id
    assert not has_bundled_layout(_schema(fields=fields[1:] + fields[:1]))  # another order
    assert not has_bundled_layout(_schema(fields=micros))  # fastavro converts these
    assert not has_bundled_layout(avro.bundled_schema(avro.TRACKING_EVENT))  # millis not stripped
    assert record_reader(READING) is read_tracking_event


def test_another_layout_still_reads_through_schema_resolution() -> None:
    older = _schema(fields=SCHEMA_JSON["fields"][:-1])  # written before message_id existed
    payload = avro.encode(older, tracking_record(3) | {"user_id": "u-3"})
    record = record_reader(older)(payload)
    assert record_reader(older) is not read_tracking_event
    assert (record["user_id"], record["message_id"]) == ("u-3", None)
    assert record["properties"]["$event_id"] == "order-0000003"
