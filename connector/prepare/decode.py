"""Kafka record bytes → TrackingEvent: schemaless Avro, or the Confluent wire format.

A record that cannot be decoded raises DecodeError with a reason code; the pipeline dead-letters it.
The Schema Registry answer for an id is cached for the life of the process (ids are immutable);
the registry and its retry policy are `connector.kafka.registry`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, Final, Protocol

import fastavro

from connector.config import DecodeSettings
from connector.errors import DecodeError
from connector.models import PropertyValue, TrackingEvent, new_tuple
from connector.prepare import reader as tracking_reader
from connector.prepare.plan_reader import plan_reader
from connector.schemas import avro

MAX_RECORD_BYTES: Final = 1_000_000  # a tracking event is a few KB; larger is not one of ours
_MAGIC: Final = 0


class Decoder(Protocol):
    def decode(self, value: bytes | None) -> TrackingEvent: ...

    def close(self) -> None: ...


def tracking_event(record: Mapping[str, Any]) -> TrackingEvent:
    """Build the core type from a decoded Avro record (timestamps are epoch ms, see
    `avro.plain_millis`, or datetimes for other timestamp logical types)."""
    timestamp = record.get("timestamp")
    if isinstance(timestamp, datetime):
        timestamp = int(timestamp.timestamp() * 1000)
    properties: dict[str, PropertyValue] = record.get("properties") or {}
    event: TrackingEvent = new_tuple(
        TrackingEvent,
        (
            record["event"],
            properties,
            timestamp,  # timestamp_ms
            record.get("user_id"),
            record.get("anonymous_id"),
            record.get("message_id"),
        ),
    )
    return event


def _check_size(value: bytes | None) -> bytes:
    if value is None or len(value) == 0:
        raise DecodeError("empty_value", "the record has no value")
    if len(value) > MAX_RECORD_BYTES:
        raise DecodeError(
            "record_too_large", f"the value is {len(value)} bytes, over {MAX_RECORD_BYTES}"
        )
    return value


RecordReader = Callable[[bytes], Mapping[str, Any]]


def record_reader(writer_schema: Any) -> RecordReader:
    """How bytes written with `writer_schema` become a record of the bundled schema: the
    specialised reader when the layout is the bundled one, else the reader of its resolution
    plan (the native path's, connector/prepare/plan_reader.py), else fastavro's resolution."""
    if tracking_reader.has_bundled_layout(writer_schema):
        return tracking_reader.read_tracking_event
    planned = plan_reader(writer_schema)
    if planned is not None:
        return planned
    reader_schema = avro.bundled_reading_schema(avro.TRACKING_EVENT)
    return partial(avro.decode, writer_schema, reader_schema=reader_schema)


def _read(read: RecordReader, payload: bytes) -> TrackingEvent:
    try:
        return tracking_event(read(payload))
    except (
        EOFError,
        struct.error,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        UnicodeDecodeError,
        OverflowError,
        MemoryError,
        fastavro.read.SchemaResolutionError,
    ) as exc:
        raise DecodeError("invalid_avro", f"not a tracking event: {type(exc).__name__}") from None


class SchemalessDecoder:
    """Avro binary without framing, written with a known writer schema."""

    def __init__(self, writer_schema: Any | None = None) -> None:
        self._read = record_reader(
            writer_schema or avro.bundled_reading_schema(avro.TRACKING_EVENT)
        )

    def decode(self, value: bytes | None) -> TrackingEvent:
        return _read(self._read, _check_size(value))

    def close(self) -> None:
        """Nothing to release."""


class RegisteredSchemaText(Protocol):
    @property
    def schema_type(self) -> str | None: ...

    @property
    def text(self) -> str: ...


class SchemaLookup(Protocol):
    """Schemas by id: connector.kafka.registry.Registry."""

    def schema(self, schema_id: int) -> RegisteredSchemaText: ...

    def close(self) -> None: ...


def confluent_schema_id(value: bytes) -> int | None:
    """The schema id of a Confluent-framed value (magic byte 0, a 4-byte id); None unframed."""
    if len(value) < 5 or value[0] != _MAGIC:
        return None
    return int.from_bytes(value[1:5], "big")


class ConfluentDecoder:
    """Magic byte 0, a 4-byte big-endian schema id, then Avro binary; the id is looked up once."""

    def __init__(self, registry: SchemaLookup) -> None:
        self._registry = registry
        self._readers: dict[int, RecordReader] = {}
        self._writers: dict[int, Any] = {}  # the parsed writer schemas, by id

    def fetched(self, schema_id: int) -> Any | None:
        """The parsed writer schema of an id already looked up (never a lookup): the native
        path plans it (connector/prepare/plan.py)."""
        return self._writers.get(schema_id)

    def decode(self, value: bytes | None) -> TrackingEvent:
        payload = _check_size(value)
        schema_id = confluent_schema_id(payload)
        if schema_id is None:
            raise DecodeError("not_confluent_framed", "the value lacks the Confluent magic byte")
        return _read(self._record_reader(schema_id), payload[5:])

    def close(self) -> None:
        self._registry.close()

    def _record_reader(self, schema_id: int) -> RecordReader:
        cached = self._readers.get(schema_id)
        if cached is not None:
            return cached
        schema = self._registry.schema(schema_id)
        if schema.schema_type not in (None, "AVRO"):
            raise DecodeError("not_avro", f"schema id {schema_id} is {schema.schema_type}")
        try:
            writer = avro.reading_schema_from_text(schema.text)
        except (ValueError, fastavro.schema.SchemaParseException):
            raise DecodeError("invalid_schema", f"schema id {schema_id} does not parse") from None
        self._readers[schema_id] = read = record_reader(writer)
        self._writers[schema_id] = writer
        return read


def build_decoder(settings: DecodeSettings) -> Decoder:
    if settings.format == "confluent":
        # Imported here: the registry client (confluent_kafka.schema_registry, authlib, httpx)
        # costs a prepare process ~20 MB that schemaless Avro never needs.
        from connector.kafka.registry import Registry

        return ConfluentDecoder(Registry.for_settings(settings))
    writer = (
        avro.reading_schema_from_file(settings.writer_schema_path)
        if settings.writer_schema_path
        else None
    )
    return SchemalessDecoder(writer)
