"""`kafka.results_format`: its setting is checked, and `report` reads results in each format."""

from __future__ import annotations

import struct

import pytest
from pydantic import ValidationError

from connector.config import Settings
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates
from connector.results.codec import encode_result, encode_result_json, result_record
from connector.results.formats import decode_result
from connector.schemas import avro

RESULT = DeliveryResult(
    SourceCoordinates("events", 0, 7), DeliveryStatus.DELIVERED, 1_000, 1_200,
    event_id="e-7", event_name="LEAD", identifiers=("phone",), identifiers_dropped=("ip:invalid",),
)  # fmt: skip


def test_confluent_results_need_the_registry_url() -> None:
    with pytest.raises(ValidationError, match="results_format 'confluent' needs decode"):
        Settings.model_validate({"kafka": {"results_format": "confluent"}})
    settings = Settings.model_validate(
        {
            "kafka": {"results_format": "confluent"},
            "decode": {"schema_registry_url": "http://registry:8081"},
        }
    )
    assert settings.kafka.results_format == "confluent"


@pytest.mark.parametrize(
    ("results_format", "value"),
    [
        ("avro", encode_result(RESULT)),
        ("confluent", b"\x00" + struct.pack(">I", 42) + encode_result(RESULT)),
        ("json", encode_result_json(RESULT)),
    ],
)
def test_report_reads_each_format_to_the_same_record(results_format: str, value: bytes) -> None:
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    record = decode_result(results_format, schema, value)
    if results_format != "json":  # fastavro gives timestamp-millis as datetimes
        for name in ("received_at", "settled_at"):
            record[name] = round(record[name].timestamp() * 1000)
    assert record == result_record(RESULT)
