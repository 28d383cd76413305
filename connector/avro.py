"""The bundled Avro schemas and schemaless encoding with fastavro."""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

TRACKING_EVENT = "tracking_event"
DELIVERY_RESULT = "delivery_result"


@cache
def bundled_schema(name: str) -> Any:
    """A parsed schema from connector/schemas/<name>.avsc."""
    text = resources.files("connector.schemas").joinpath(f"{name}.avsc").read_text("utf-8")
    return fastavro.parse_schema(json.loads(text))


def schema_from_file(path: Path) -> Any:
    return fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")))


def encode(schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def decode(schema: Any, payload: bytes, reader_schema: Any | None = None) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(payload), schema, reader_schema)


def parse_schema_text(text: str) -> Any:
    return fastavro.parse_schema(json.loads(text))
