"""The direct result writer produces exactly fastavro's bytes for the bundled schema."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector import avro
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates
from connector.outcome import result_record
from connector.result_codec import encode_result

_LONGS = st.integers(min_value=0, max_value=2**62)
_TEXT = st.text(max_size=40)

results = st.builds(
    DeliveryResult,
    coordinates=st.builds(
        SourceCoordinates,
        topic=st.text(min_size=1, max_size=30),
        partition=st.integers(min_value=0, max_value=2**31 - 1),
        offset=_LONGS,
        timestamp_ms=st.none() | _LONGS,
    ),
    status=st.sampled_from(list(DeliveryStatus)),
    received_at_ms=st.integers(min_value=0, max_value=2**40),
    settled_at_ms=st.integers(min_value=0, max_value=2**40),
    event_id=st.none() | _TEXT,
    event_name=st.none() | _TEXT,
    event_time_ms=st.none() | st.integers(min_value=-(2**40), max_value=2**40),
    http_status=st.none() | st.integers(min_value=100, max_value=599),
    error_code=st.none() | _TEXT,
    error_field=st.none() | _TEXT,
    error_message=st.none() | st.text(max_size=300),
    attempts=st.integers(min_value=0, max_value=1000),
    sp_trace_id=st.none() | _TEXT,
    warnings=st.lists(_TEXT, max_size=4).map(tuple),
)


@given(results)
def test_direct_writer_matches_fastavro(result: DeliveryResult) -> None:
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    assert encode_result(result) == avro.encode(schema, result_record(result))


def test_a_known_result_decodes_to_its_fields() -> None:
    result = DeliveryResult(
        coordinates=SourceCoordinates("events", 2, 41, None),
        status=DeliveryStatus.REJECTED_SPOTIFY,
        received_at_ms=1_700_000_000_000,
        settled_at_ms=1_700_000_000_250,
        event_id="order-1",
        event_name="PURCHASE",
        http_status=400,
        error_code="spotify_400",
        attempts=3,
        warnings=("invalid_gender:gender",),
    )
    decoded = avro.decode(avro.bundled_schema(avro.DELIVERY_RESULT), encode_result(result))
    assert decoded["source_offset"] == 41
    assert decoded["status"] == "REJECTED_SPOTIFY"
    assert decoded["latency_ms"] == 250
    assert decoded["http_status"] == 400
    assert decoded["warnings"] == ["invalid_gender:gender"]
    assert decoded["event_time"] is None
