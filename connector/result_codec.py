"""A DeliveryResult as Avro binary (schemas/delivery_result.avsc), written without fastavro.

One result is written per record on the Kafka thread; this direct writer takes well under half
the time of fastavro's generic writer, and caching the segments many results share (names,
kinds, the times of a poll and of an answer) halves it again (bench/README.md).
tests/unit/test_result_codec.py proves both produce the same bytes for any result, so the schema
file stays the contract.
`encode_result_json` writes the same fields as one JSON object (timestamps as epoch ms).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from connector import __version__
from connector.models import DeliveryResult, DeliveryStatus

# Segments that do not depend on the record, built once.
_BYTES = [bytes((value,)) for value in range(0x80)]  # a varint below 0x80 is itself
_STATUS_BYTE = {status: bytes((index << 1,)) for index, status in enumerate(DeliveryStatus)}
_SHORT_PRESENT = [b"\x02" + bytes((length << 1,)) for length in range(64)]  # branch 1, length
_NULL = b"\x00"  # union branch 0: null
_NO_ERRORS = b"\x00\x00\x00"  # the usual delivered record: error code, field, message null


def _long(value: int) -> bytes | bytearray:
    """A zig-zag varint (Avro `long`)."""
    value = (value << 1) ^ (value >> 63)
    if value < 0x80:
        return _BYTES[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return out


def _optional_string(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode()
    length = len(data)
    return (_SHORT_PRESENT[length] if length < 64 else b"\x02" + _long(length)) + data


def _optional_long(value: int | None) -> bytes:
    return _NULL if value is None else b"\x02" + _long(value)


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


_END = _NULL + _optional_string(__version__)[1:]  # the warnings array's end, connector_version

# Values shared by many results, so cached: the times of a poll and of Spotify's answer (and so
# the latency), the trace id of a request, and the segments made of names and kinds.
_shared_long = lru_cache(maxsize=4096)(_long)
_shared_string = lru_cache(maxsize=1024)(_optional_string)


@lru_cache(maxsize=1024)
def _topic_and_partition(topic: str, partition: int) -> bytes:
    """The record's first two fields; a connector reads few partitions."""
    return _optional_string(topic)[1:] + _long(partition)


@lru_cache(maxsize=1024)
def _name_status_http(event_name: str | None, status: DeliveryStatus, http: int | None) -> bytes:
    return _optional_string(event_name) + _STATUS_BYTE[status] + _optional_long(http)


@lru_cache(maxsize=1024)
def _tail(
    warnings: tuple[str, ...],
    connection: str | None,
    identifiers: tuple[str, ...],
    email_count: int,
    dropped: tuple[str, ...],
) -> bytes:
    """Warnings to the end of the record: few distinct values (kinds, reasons, connections)."""
    return (
        _strings(warnings, end=False)
        + _END
        + _optional_string(connection)
        + _strings(identifiers, end=True)
        + _long(email_count)
        + _strings(dropped, end=True)
    )


def encode_result(result: DeliveryResult) -> bytes:
    """The result's fields in the schema's order, as segments joined once."""
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
    if error_code is None and error_field is None and error_message is None:
        errors = _NO_ERRORS
    else:
        errors = (
            _optional_string(error_code)
            + _optional_string(error_field)
            + _optional_string(error_message)
        )
    return b"".join(
        (
            _topic_and_partition(topic, partition),
            _long(offset),
            _optional_string(event_id),
            _name_status_http(event_name, status, http_status),
            errors,
            _long(attempts),
            _shared_long(received_at_ms),
            _shared_long(settled_at_ms),
            _optional_long(event_time_ms),
            _shared_long(max(0, settled_at_ms - received_at_ms)),
            _shared_string(sp_trace_id),
            _tail(warnings, connection, identifiers, email_count, identifiers_dropped),
        )
    )


def result_record(result: DeliveryResult) -> dict[str, Any]:
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
    }


def encode_result_json(result: DeliveryResult) -> bytes:
    return orjson.dumps(result_record(result))
