"""The result of each way a record ends, by value."""

from __future__ import annotations

from connector.models import (
    DeliveryResult,
    DeliveryStatus,
    Identifiers,
    Rejected,
    Rejection,
    Skipped,
    SourceCoordinates,
    SourceRecord,
    TransformWarning,
)
from connector.prepare.preparer import Ready, Undecodable
from connector.results.delivery import failed_result, sent_result
from connector.sink import SendOutcome, SendStatus, SinkItem

WHERE = SourceCoordinates("events", 1, 41, None)
ORIGINAL = SourceCoordinates("events", 0, 7, None)  # a replayed dead letter's first home
RECORD = SourceRecord(WHERE, None, b"...", (), received_at_ms=1_000)


def test_an_undecodable_record_is_a_decode_failure() -> None:
    result = failed_result(ORIGINAL, RECORD, Undecodable("invalid_avro", "not Avro"), 1_200)
    assert result == (
        DeliveryResult(
            coordinates=ORIGINAL,
            status=DeliveryStatus.UNDECODABLE,
            received_at_ms=1_000,
            settled_at_ms=1_200,
            error_code="invalid_avro",
            error_message="not Avro",
        ),
        "decode",
    )


def test_a_skipped_event_is_no_failure_and_says_why() -> None:
    skipped = Skipped("consent_denied", "marketing_consent", "order-1", "PURCHASE")
    result, _stage = failed_result(WHERE, RECORD, skipped, 1_250)
    assert result == DeliveryResult(
        coordinates=WHERE,
        status=DeliveryStatus.SKIPPED_NO_CONSENT,
        received_at_ms=1_000,
        settled_at_ms=1_250,
        event_id="order-1",
        event_name="PURCHASE",
        error_code="consent_denied",
        error_field="marketing_consent",
        error_message="not sent: the consent property denies it (transform.consent.on_denied)",
    )
    assert result.is_failure is False  # written as a result only, never dead-lettered


def test_a_rejected_event_keeps_its_id_name_field_and_warnings() -> None:
    rejected = Rejected(
        Rejection("no_user_identifier", "user_data", "no usable identifier"),
        event_id="order-1",
        event_name="PURCHASE",
        warnings=(TransformWarning("invalid_gender", "gender"),),
    )
    assert failed_result(WHERE, RECORD, rejected, 1_300) == (
        DeliveryResult(
            coordinates=WHERE,
            status=DeliveryStatus.REJECTED_TRANSFORM,
            received_at_ms=1_000,
            settled_at_ms=1_300,
            event_id="order-1",
            event_name="PURCHASE",
            error_code="no_user_identifier",
            error_field="user_data",
            error_message="no usable identifier",
            warnings=("invalid_gender:gender",),
        ),
        "transform",
    )


def test_spotify_s_answer_becomes_the_result_with_both_stages_warnings() -> None:
    ready = Ready("order-2", "PURCHASE", 900, b"{}", ("too_long:page_id",))
    outcome = SendOutcome(
        item=SinkItem(ref=None, event_id="order-2", payload=b"{}", connection="brand_b"),
        status=SendStatus.RETRY_EXHAUSTED,
        http_status=503,
        error_code="retry_exhausted",
        error_message="503 Service Unavailable",
        attempts=6,
        sp_trace_id="t-1",
        acknowledged_at_ms=5_000,
        removed_fields=("gender",),
    )
    assert sent_result(WHERE, RECORD, ready, outcome) == DeliveryResult(
        coordinates=WHERE,
        status=DeliveryStatus.RETRY_EXHAUSTED,
        received_at_ms=1_000,
        settled_at_ms=5_000,
        event_id="order-2",
        event_name="PURCHASE",
        event_time_ms=900,
        http_status=503,
        error_code="retry_exhausted",
        error_message="503 Service Unavailable",
        attempts=6,
        sp_trace_id="t-1",
        warnings=("too_long:page_id", "spotify_400_removed:gender"),
        connection="brand_b",
    )


def test_every_part_of_an_answer_lands_in_its_own_field() -> None:
    """The result is built positionally (the hot path): each field gets a distinct value here."""
    identifiers = Identifiers(("email", "ip_address"), 2, ("phone:invalid",))
    ready = Ready("order-3", "ADD_TO_CART", 950, b"{}", ("w:1",), "brand_c", identifiers)
    outcome = SendOutcome(
        SinkItem(None, "order-3", b"{}", "brand_c"),
        SendStatus.REJECTED,
        422,
        "spotify_422",
        "unprocessable",
        2,
        "t-3",
        6_000,
    )
    result = sent_result(WHERE, RECORD, ready, outcome)
    assert type(result) is DeliveryResult
    assert result._asdict() == {
        "coordinates": WHERE,
        "status": DeliveryStatus.REJECTED_SPOTIFY,
        "received_at_ms": 1_000,
        "settled_at_ms": 6_000,
        "event_id": "order-3",
        "event_name": "ADD_TO_CART",
        "event_time_ms": 950,
        "http_status": 422,
        "error_code": "spotify_422",
        "error_field": None,
        "error_message": "unprocessable",
        "attempts": 2,
        "sp_trace_id": "t-3",
        "warnings": ("w:1",),
        "connection": "brand_c",
        "identifiers": ("email", "ip_address"),
        "email_count": 2,
        "identifiers_dropped": ("phone:invalid",),
    }
