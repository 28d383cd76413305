"""How a result becomes a record value of the results topic, in `kafka.results_format`: schemaless
Avro (`avro`, the default), the Confluent wire format (`confluent`: the schema registered under
`<results topic>-value`, at start, not at the first result) or one JSON object (`json`)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, NamedTuple

import orjson

from connector.config import DecodeSettings, KafkaSettings
from connector.kafka.admin import read_range
from connector.kafka.registry import register_schema
from connector.models import DeliveryResult
from connector.results.codec import encode_result, encode_result_json
from connector.schemas import avro

AVRO_CONTENT_TYPE = b"application/avro; schema=delivery_result"


class ResultFormat(NamedTuple):
    encode: Callable[[DeliveryResult], bytes]
    content_type: bytes  # the records' `content-type` header


def result_format(
    settings: KafkaSettings, registry: DecodeSettings, backfill: str | None = None
) -> ResultFormat:
    """`backfill`: the id of the backfill whose results these are (their `backfill` field)."""
    binary: Callable[[DeliveryResult], bytes] = (
        encode_result if backfill is None else partial(encode_result, backfill=backfill)
    )
    if settings.results_format == "json":
        return ResultFormat(partial(encode_result_json, backfill=backfill), b"application/json")
    if settings.results_format == "avro":
        return ResultFormat(binary, AVRO_CONTENT_TYPE)
    subject = f"{settings.results_topic}-value"
    schema_id = register_schema(registry, subject, avro.bundled_text(avro.DELIVERY_RESULT))
    prefix = b"\x00" + struct.pack(">I", schema_id)  # the magic byte, then the schema id

    def framed(result: DeliveryResult) -> bytes:
        return prefix + binary(result)

    return ResultFormat(framed, b"application/vnd.confluent.avro")


# Results are produced just after they settle; seeking this much earlier catches clock jitter.
SEEK_MARGIN_MS = 60_000


def read_result_records(
    kafka: KafkaSettings,
    since_ms: int | None,
    group_id: str,
    on_start: Callable[[int], None] = lambda _total: None,
    on_read: Callable[[int], object] = lambda _count: None,
) -> Iterator[dict[str, Any]]:
    """The results topic's records, decoded, from about `since_ms` (by record time) up to its
    end offsets when the read began; `report` and `reconcile` select by `settled_at` after."""
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    read = read_range(
        kafka,
        kafka.results_topic,
        group_id,
        since_ms=since_ms,
        margin_ms=SEEK_MARGIN_MS,
        on_start=on_start,
        on_read=on_read,
    )
    for value in read:
        yield decode_result(kafka.results_format, schema, value)


def decode_result(results_format: str, schema: Any, value: bytes) -> dict[str, Any]:
    """A result record in any `kafka.results_format` (confluent: the bundled schema is the one
    this connector registered and wrote with)."""
    if results_format == "json":
        record: dict[str, Any] = orjson.loads(value)
        return record
    if results_format == "confluent":
        value = value[5:]  # the magic byte and the schema id
    decoded: dict[str, Any] = avro.decode(schema, value)
    return decoded
