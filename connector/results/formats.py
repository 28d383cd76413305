"""How a result becomes a record value of the results topic, in `kafka.results_format`: schemaless
Avro (`avro`, the default), the Confluent wire format (`confluent`: the schema registered under
`<results topic>-value`, at start, not at the first result) or one JSON object (`json`)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from connector.config import DecodeSettings, KafkaSettings
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
