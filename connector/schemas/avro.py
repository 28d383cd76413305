"""The bundled Avro schemas and schemaless encoding with fastavro."""

from __future__ import annotations

import io
import json
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

TRACKING_EVENT = "tracking_event"
DELIVERY_RESULT = "delivery_result"


def bundled_text(name: str) -> str:
    return resources.files("connector.schemas").joinpath(f"{name}.avsc").read_text("utf-8")


@cache
def bundled_schema(name: str) -> Any:
    """A parsed schema from connector/schemas/<name>.avsc."""
    return fastavro.parse_schema(json.loads(bundled_text(name)))


@cache
def bundled_reading_schema(name: str) -> Any:
    """A bundled schema as the decoder reads with it (see `plain_millis`)."""
    return reading_schema_from_text(bundled_text(name))


def reading_schema_from_file(path: Path) -> Any:
    return reading_schema_from_text(path.read_text(encoding="utf-8"))


def reading_schema_from_text(text: str) -> Any:
    return fastavro.parse_schema(plain_millis(json.loads(text)))


def plain_millis(schema: Any) -> Any:
    """The schema without `timestamp-millis` annotations: the same bytes then decode to the epoch
    milliseconds themselves instead of a datetime that the connector would turn back into them
    (a quarter of a record's decoding time). Other logical types are kept: `timestamp-micros`
    must still be converted."""
    if isinstance(schema, dict):
        return {
            key: plain_millis(value)
            for key, value in schema.items()
            if not (key == "logicalType" and value == "timestamp-millis")
        }
    if isinstance(schema, list):
        return [plain_millis(item) for item in schema]
    return schema


def encode(schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def decode(schema: Any, payload: bytes, reader_schema: Any | None = None) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(payload), schema, reader_schema)


def epoch_ms(value: datetime | int) -> int:
    """A `timestamp-millis` as epoch ms: fastavro reads it as an aware datetime, JSON results
    carry the number."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)
