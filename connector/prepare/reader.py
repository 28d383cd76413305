"""A reader for Avro written with exactly the bundled tracking-event schema.

fastavro's compiled reader calls the file object's read() for every primitive, which makes a
property bag costly; reading the bytes directly, with the layout known in advance, is markedly
faster (figures in bench/README.md). It is used only when the writer schema
has the bundled layout (`has_bundled_layout`); every other writer schema goes through fastavro's
schema resolution. It returns what fastavro returns for the same bytes, and rejects some
malformed input fastavro lets through (a boolean byte other than 0/1, an over-long varint, a
union branch out of range); tests/unit/test_tracking_reader.py checks both differentially.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import fastavro

from connector.schemas import avro

_double: Final = struct.Struct("<d").unpack_from
_MAX_VARINT_BYTES: Final = 10  # a long is 64 bits: 10 groups of 7

# Union branches of the property values, as their zig-zag encoded index byte:
# ["null", "boolean", "long", "double", "string", {"type": "array", "items": "string"}]
_NULL: Final = 0
_BOOLEAN: Final = 2
_LONG: Final = 4
_DOUBLE: Final = 6
_STRING: Final = 8
_ARRAY: Final = 10
_PRESENT: Final = 2  # index 1 of ["null", X]


def has_bundled_layout(writer_schema: Any) -> bool:
    """True when bytes written with `writer_schema` read exactly as with the bundled schema: the
    same canonical form and no logical type that fastavro would convert (the bundled
    `timestamp-millis` is read as the plain long, see `avro.plain_millis`)."""
    bundled = avro.bundled_reading_schema(avro.TRACKING_EVENT)
    canonical = fastavro.schema.to_parsing_canonical_form
    return not _has_logical_type(writer_schema) and canonical(writer_schema) == canonical(bundled)


def _has_logical_type(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "logicalType" in schema or any(_has_logical_type(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_logical_type(item) for item in schema)
    return False


def _long(b: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint at `pos`, and the position after it."""
    value = shift = 0
    for count in range(_MAX_VARINT_BYTES):
        byte = b[pos + count]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), pos + count + 1
        shift += 7
    raise ValueError("a varint longer than 64 bits")


def _length(b: bytes, pos: int) -> tuple[int, int]:
    length, pos = _long(b, pos)
    if length < 0:
        raise ValueError("a negative length")
    return length, pos


def _string(b: bytes, pos: int) -> tuple[str, int]:
    length, pos = _length(b, pos)
    end = pos + length
    return b[pos:end].decode(), end


def _optional_string(b: bytes, pos: int) -> tuple[str | None, int]:
    branch = b[pos]
    if branch == _NULL:
        return None, pos + 1
    if branch != _PRESENT:
        raise ValueError("a union branch out of range")
    return _string(b, pos + 1)


def _string_array(b: bytes, pos: int) -> tuple[list[str], int]:
    items: list[str] = []
    while True:
        count, pos = _long(b, pos)
        if count == 0:
            return items, pos
        if count < 0:  # a negative count is followed by the block's size in bytes
            count = -count
            _, pos = _long(b, pos)
        for _ in range(count):
            item, pos = _string(b, pos)
            items.append(item)


def _value(b: bytes, pos: int, branch: int) -> tuple[Any, int]:
    """A property value other than a string (those are read inline in `_properties`)."""
    if branch == _BOOLEAN:
        flag = b[pos]
        if flag > 1:
            raise ValueError("a boolean byte other than 0 or 1")
        return flag == 1, pos + 1
    if branch == _LONG:
        return _long(b, pos)
    if branch == _DOUBLE:
        return _double(b, pos)[0], pos + 8
    if branch == _NULL:
        return None, pos
    if branch == _ARRAY:
        return _string_array(b, pos)
    raise ValueError("a union branch out of range")


def _properties(b: bytes, pos: int) -> tuple[dict[str, Any], int]:
    properties: dict[str, Any] = {}
    while True:
        count, pos = _long(b, pos)
        if count == 0:
            return properties, pos
        if count < 0:
            count = -count
            _, pos = _long(b, pos)
        for _ in range(count):
            # The hot loop: one-byte lengths (under 64) are read inline, the rest by _length.
            length = b[pos]
            if length & 0x81:
                length, pos = _length(b, pos)
            else:
                length >>= 1
                pos += 1
            end = pos + length
            key = b[pos:end].decode()
            branch = b[end]
            pos = end + 1
            if branch == _STRING:
                length = b[pos]
                if length & 0x81:
                    length, pos = _length(b, pos)
                else:
                    length >>= 1
                    pos += 1
                end = pos + length
                properties[key] = b[pos:end].decode()
                pos = end
            else:
                properties[key], pos = _value(b, pos, branch)


def read_tracking_event(b: bytes) -> dict[str, Any]:
    """The record as fastavro's schemaless_reader returns it. Raises IndexError, ValueError,
    UnicodeDecodeError, struct.error or EOFError on bytes that are not such a record."""
    event, pos = _string(b, 0)
    properties, pos = _properties(b, pos)
    branch = b[pos]
    if branch == _NULL:
        timestamp, pos = None, pos + 1
    elif branch == _PRESENT:
        timestamp, pos = _long(b, pos + 1)
    else:
        raise ValueError("a union branch out of range")
    user_id, pos = _optional_string(b, pos)
    anonymous_id, pos = _optional_string(b, pos)
    message_id, pos = _optional_string(b, pos)
    if pos > len(b):  # slicing past the end does not raise: the last string was cut short
        raise EOFError("the record ends early")
    return {
        "event": event,
        "properties": properties,
        "timestamp": timestamp,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "message_id": message_id,
    }
