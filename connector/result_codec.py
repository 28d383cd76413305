"""A DeliveryResult as Avro binary (schemas/delivery_result.avsc), written without fastavro.

One result is written per record on the Kafka thread; this direct writer takes well under half
the time of fastavro's generic writer (bench/README.md). tests/unit/test_result_codec.py proves
both produce the same bytes for any result, so the schema file stays the contract.
`encode_result_json` writes the same fields as one JSON object (timestamps as epoch ms).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from connector import __version__
from connector.models import DeliveryResult, DeliveryStatus

# An enum index below 64 is one zig-zag byte.
_STATUS_BYTE = {status: index << 1 for index, status in enumerate(DeliveryStatus)}


def _long(value: int, out: bytearray) -> None:
    value = (value << 1) ^ (value >> 63)  # zig-zag
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _string(value: str, out: bytearray) -> None:
    data = value.encode()
    _long(len(data), out)
    out += data


def _optional_string(value: str | None, out: bytearray) -> None:
    if value is None:
        out.append(0)  # union branch 0: null
    else:
        out.append(2)  # union branch 1, zig-zag encoded
        _string(value, out)


def _optional_long(value: int | None, out: bytearray) -> None:
    if value is None:
        out.append(0)
    else:
        out.append(2)
        _long(value, out)


def _end() -> bytes:
    out = bytearray([0])  # the end of the warnings array
    _string(__version__, out)  # connector_version
    return bytes(out)


_END = _end()


@lru_cache(maxsize=1024)
def _topic_and_partition(topic: str, partition: int) -> bytes:
    """The record's first two fields; a connector reads few partitions, so they are cached."""
    out = bytearray()
    _string(topic, out)
    _long(partition, out)
    return bytes(out)


def encode_result(result: DeliveryResult) -> bytes:
    c = result.coordinates
    out = bytearray(_topic_and_partition(c.topic, c.partition))
    _long(c.offset, out)
    _optional_string(result.event_id, out)
    _optional_string(result.event_name, out)
    out.append(_STATUS_BYTE[result.status])
    _optional_long(result.http_status, out)
    if result.error_code is None and result.error_field is None and result.error_message is None:
        out += b"\x00\x00\x00"  # the usual delivered record: three nulls
    else:
        _optional_string(result.error_code, out)
        _optional_string(result.error_field, out)
        _optional_string(result.error_message, out)
    _long(result.attempts, out)
    _long(result.received_at_ms, out)
    _long(result.settled_at_ms, out)
    _optional_long(result.event_time_ms, out)
    _long(max(0, result.settled_at_ms - result.received_at_ms), out)
    _optional_string(result.sp_trace_id, out)
    _strings(result.warnings, out)
    out += _END
    _optional_string(result.connection, out)
    if result.identifiers or result.email_count or result.identifiers_dropped:
        _strings(result.identifiers, out, end=True)
        _long(result.email_count, out)
        _strings(result.identifiers_dropped, out, end=True)
    else:
        out += b"\x00\x00\x00"  # no identifiers: two empty arrays and a zero
    return bytes(out)


def _strings(values: tuple[str, ...], out: bytearray, end: bool = False) -> None:
    """An array of strings; `end` writes its closing empty block too (the warnings array's
    closing block is part of _END)."""
    if values:
        _long(len(values), out)
        for value in values:
            _string(value, out)
    if end:
        out.append(0)


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
