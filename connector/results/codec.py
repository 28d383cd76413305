"""A DeliveryResult as Avro binary (schemas/delivery_result.avsc), written without fastavro.

One result is written per record on the Kafka thread; this direct writer takes well under half
the time of fastavro's generic writer, and caching the segments many results share (names,
kinds, the times of a poll and of an answer) halves it again (bench/README.md).
tests/unit/test_result_codec.py proves both produce the same bytes for any result, so the schema
file stays the contract.
`encode_result_json` writes the same fields as one JSON object (timestamps as epoch ms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

import orjson

from connector import __version__
from connector.models import DeliveryResult, DeliveryStatus
from connector.results.event_ids import DERIVED, EVENT, event_id_source

# Segments that do not depend on the record, built once.
_BYTES: Final = [bytes((value,)) for value in range(0x80)]  # a varint below 0x80 is itself
_STATUS_BYTE: Final = {status: bytes((index << 1,)) for index, status in enumerate(DeliveryStatus)}
_PRESENT: Final = b"\x02"  # union branch 1: the value follows
# union branch 1, then a string's length below 64
_SHORT_PRESENT: Final = [_PRESENT + bytes((length << 1,)) for length in range(64)]
_NULL: Final = b"\x00"  # union branch 0: null
_NO_ERRORS: Final = b"\x00\x00\x00"  # the usual delivered record: error code, field, message null


def _long(value: int) -> bytes:
    """A zig-zag varint (Avro `long`): its 7-bit groups, low first, each but the last with the
    continuation bit, gathered in one int and written at once (no bytearray)."""
    value = (value << 1) ^ (value >> 63)
    if value < 0x80:
        return _BYTES[value]
    groups = 0
    shift = 0
    while value > 0x7F:
        groups |= ((value & 0x7F) | 0x80) << shift
        value >>= 7
        shift += 8
    return (groups | (value << shift)).to_bytes((shift >> 3) + 1, "little")


def _string_parts(value: str | None) -> tuple[bytes, bytes]:
    """An optional string as (union branch and length, UTF-8 bytes): apart, so that a record
    built by one format takes both without joining them first."""
    if value is None:
        return _NULL, b""
    data = value.encode()
    length = len(data)
    return (_SHORT_PRESENT[length] if length < 64 else _PRESENT + _long(length)), data


def _long_parts(value: int | None) -> tuple[bytes, bytes]:
    """An optional long as (union branch, varint)."""
    return (_NULL, b"") if value is None else (_PRESENT, _long(value))


def _optional_string(value: str | None) -> bytes:
    head, data = _string_parts(value)
    return head + data


# event_id_source's three values, written once.
_SOURCES: Final[dict[str | None, bytes]] = {
    None: _NULL,
    EVENT: _optional_string(EVENT),
    DERIVED: _optional_string(DERIVED),
}


def _optional_long(value: int | None) -> bytes:
    head, data = _long_parts(value)
    return head + data


def _strings(values: tuple[str, ...], *, end: bool) -> bytes:
    """An array of strings; `end` writes its closing empty block too (the warnings array's
    closing block is part of _END)."""
    out = bytearray()
    if values:
        out += _long(len(values))
        for value in values:
            data = value.encode()
            out += _long(len(data))
            out += data
    if end:
        out.append(0)
    return bytes(out)


# The warnings array's end, then connector_version.
_END: Final = _NULL + _optional_string(__version__)[1:]

# The fields the results of one answer share (topic and partition, status, attempts, the times
# of the poll and of the answer, the trace id) and those of one kind of event (name, warnings,
# connection, identifiers) make the segments between the per-record fields (offset, event id,
# errors, event time). A result whose answer or kind is the previous one's takes its segments
# from there, comparing fields instead of hashing them; others from a bounded dict.
_K = TypeVar("_K")
_V = TypeVar("_V")
_SEGMENTS_MAX: Final = 1024  # keys a dict holds before it is emptied (the next answers refill it)


class _Segments(Generic[_K, _V]):
    """`build(key)`, cached: the last key's value first, then a bounded dict."""

    def __init__(self, build: Callable[[_K], _V]) -> None:
        self._build = build
        self._cache: dict[_K, _V] = {}
        self._last: tuple[_K, _V] | None = None  # one attribute: read and replaced at once

    def get(self, key: _K) -> _V:
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        value = self._cache.get(key)
        if value is None:
            if len(self._cache) >= _SEGMENTS_MAX:
                self._cache.clear()
            value = self._cache[key] = self._build(key)
        self._last = (key, value)
        return value


_AnswerKey = tuple[str, int, DeliveryStatus, int | None, int, int, int, str | None]
_KindKey = tuple[str | None, tuple[str, ...], str | None, tuple[str, ...], int, tuple[str, ...]]


def _answer_segments(key: _AnswerKey) -> tuple[bytes, bytes, bytes, bytes]:
    """(topic and partition; status and HTTP status; attempts and the times; latency and
    trace id)."""
    topic, partition, status, http_status, attempts, received_at_ms, settled_at_ms, trace = key
    latency = settled_at_ms - received_at_ms
    return (
        _optional_string(topic)[1:] + _long(partition),
        _STATUS_BYTE[status] + _optional_long(http_status),
        _long(attempts) + _long(received_at_ms) + _long(settled_at_ms),
        _long(latency if latency > 0 else 0) + _optional_string(trace),
    )


def _kind_segments(key: _KindKey) -> tuple[bytes, bytes]:
    """(event name; warnings to the end of the record)."""
    event_name, warnings, connection, identifiers, email_count, dropped = key
    return (
        _optional_string(event_name),
        _strings(warnings, end=False)
        + _END
        + _optional_string(connection)
        + _strings(identifiers, end=True)
        + _long(email_count)
        + _strings(dropped, end=True),
    )


_ANSWERS: Final = _Segments(_answer_segments)
_KINDS: Final = _Segments(_kind_segments)


def encode_result(result: DeliveryResult, backfill: str | None = None) -> bytes:
    """The result's fields in the schema's order: the shared segments and the per-record fields
    between them, written at once. `backfill`: the id of the backfill that sent it."""
    (
        (topic, partition, offset, _),
        status,
        received_at_ms,
        settled_at_ms,
        event_id,
        event_name,
        event_time_ms,
        http_status,
        error_code,
        error_field,
        error_message,
        attempts,
        sp_trace_id,
        warnings,
        connection,
        identifiers,
        email_count,
        identifiers_dropped,
    ) = result
    source, status_http, times, latency_trace = _ANSWERS.get(
        (
            topic,
            partition,
            status,
            http_status,
            attempts,
            received_at_ms,
            settled_at_ms,
            sp_trace_id,
        )
    )
    name, kind = _KINDS.get(
        (event_name, warnings, connection, identifiers, email_count, identifiers_dropped)
    )
    id_head, id_data = _string_parts(event_id)
    if error_code is None and error_field is None and error_message is None:
        errors = _NO_ERRORS
    else:
        errors = (
            _optional_string(error_code)
            + _optional_string(error_field)
            + _optional_string(error_message)
        )
    time_head, time = _long_parts(event_time_ms)
    # A bytes %-format of bytes values: mypyc builds it with one allocation (CPyBytes_Build),
    # without the tuple and the call of b"".join.
    return b"%b%b%b%b%b%b%b%b%b%b%b%b%b%b" % (
        source,
        _long(offset),
        id_head,
        id_data,
        name,
        status_http,
        errors,
        times,
        time_head,
        time,
        latency_trace,
        kind,
        _NULL if backfill is None else _optional_string(backfill),
        _SOURCES[event_id_source(result.coordinates, event_id)],
    )


def result_record(result: DeliveryResult, backfill: str | None = None) -> dict[str, Any]:
    """The result as the schema's record, field by field."""
    c = result.coordinates
    return {
        "source_topic": c.topic,
        "source_partition": c.partition,
        "source_offset": c.offset,
        "event_id": result.event_id,
        "event_name": result.event_name,
        "status": result.status.value,
        "http_status": result.http_status,
        "error_code": result.error_code,
        "error_field": result.error_field,
        "error_message": result.error_message,
        "attempts": result.attempts,
        "received_at": result.received_at_ms,
        "settled_at": result.settled_at_ms,
        "event_time": result.event_time_ms,
        "latency_ms": max(0, result.settled_at_ms - result.received_at_ms),
        "sp_trace_id": result.sp_trace_id,
        "warnings": list(result.warnings),
        "connector_version": __version__,
        "connection": result.connection,
        "identifiers": list(result.identifiers),
        "email_count": result.email_count,
        "identifiers_dropped": list(result.identifiers_dropped),
        "backfill": backfill,
        "event_id_source": event_id_source(c, result.event_id),
    }


def encode_result_json(result: DeliveryResult, backfill: str | None = None) -> bytes:
    return orjson.dumps(result_record(result, backfill))
