"""event_time: sources, formats, time zones, skew, age limits."""

from __future__ import annotations

import pytest

from connector.models import PropertyValue, SourceCoordinates, TransformWarning
from connector.transform.event_time import format_utc_ms, parse_event_time
from connector.transform.problems import Invalid
from tests.unit.transform.support import IDENTIFIED, NOW_MS, NOW_TEXT, accepted, rejected

HOUR_MS = 3_600_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-23T10:00:00Z", "2026-01-23T10:00:00.000Z"),
        ("2026-01-23T10:00:00z", "2026-01-23T10:00:00.000Z"),
        ("2026-01-23t10:00:00.5Z", "2026-01-23T10:00:00.500Z"),
        ("2026-01-23T12:00:00.123+02:00", "2026-01-23T10:00:00.123Z"),
        ("2026-01-23T04:30:00-05:30", "2026-01-23T10:00:00.000Z"),
        ("2026-01-23T15:30:00.999999+0530", "2026-01-23T10:00:00.999Z"),
        ("2026-01-23 10:00:00.123456789Z", "2026-01-23T10:00:00.123Z"),
        ("2026-01-23T11:00+01:00", "2026-01-23T10:00:00.000Z"),
        ("2026-01-22T23:00:00-11:00", "2026-01-23T10:00:00.000Z"),
        ("2026-01-23T00:30:00+14:00", "2026-01-22T10:30:00.000Z"),
        (1_769_162_400_000, "2026-01-23T10:00:00.000Z"),  # epoch ms
        (1_769_162_400, "2026-01-23T10:00:00.000Z"),  # epoch s
        (1_769_162_400.25, "2026-01-23T10:00:00.250Z"),  # epoch s with a fraction
        ("1769162400123", "2026-01-23T10:00:00.123Z"),  # numeric text, ms
        (" 1769162400 ", "2026-01-23T10:00:00.000Z"),  # numeric text, s
        ("1769162400.5", "2026-01-23T10:00:00.500Z"),
        (1_769_162_400_000.0, "2026-01-23T10:00:00.000Z"),
    ],
)
def test_event_time_forms_become_utc_with_milliseconds(value: PropertyValue, expected: str) -> None:
    outcome = accepted({"$event_time": value, **IDENTIFIED})
    assert outcome.event.event_time == expected
    assert outcome.warnings == ()
    assert outcome.event_time_ms is not None
    assert format_utc_ms(outcome.event_time_ms) == expected  # the same instant, as epoch ms


def test_text_without_offset_is_read_as_utc_with_a_warning() -> None:
    outcome = accepted({"$event_time": "2026-01-23T10:00:00", **IDENTIFIED})
    assert outcome.event.event_time == "2026-01-23T10:00:00.000Z"
    assert outcome.warnings == (TransformWarning("assumed_utc", "$event_time"),)


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-01-23",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-23T25:00:00Z",
        "2026-01-23T10:00:00+25:00",
        "23/01/2026 10:00",
        "nan",
        float("nan"),
        float("inf"),
        True,
        ["2026-01-23T10:00:00Z"],
        "9" * 5000,
        946_684_799_999,  # one millisecond before 2000
        0,
        -1_769_162_400,
    ],
)
def test_unusable_event_time_rejects(value: PropertyValue) -> None:
    outcome = rejected({"$event_time": value, **IDENTIFIED})
    assert outcome.rejection.reason == "invalid_event_time"
    assert outcome.rejection.field == "$event_time"
    assert outcome.event_name == "VIEW"


def test_record_timestamp_is_used_without_event_time() -> None:
    outcome = accepted(IDENTIFIED, timestamp_ms=NOW_MS - HOUR_MS)
    assert outcome.event.event_time == "2026-01-23T11:34:56.000Z"


def test_kafka_timestamp_is_used_without_event_time_or_record_timestamp() -> None:
    coordinates = SourceCoordinates("t", 0, 1, timestamp_ms=NOW_MS - 2 * HOUR_MS)
    for record_ms in (None, 0, -1):
        outcome = accepted(IDENTIFIED, timestamp_ms=record_ms, coordinates=coordinates)
        assert outcome.event.event_time == "2026-01-23T10:34:56.000Z"


def test_now_is_used_when_nothing_else_has_a_time() -> None:
    coordinates = SourceCoordinates("t", 0, 1, timestamp_ms=-1)
    assert accepted(IDENTIFIED, coordinates=coordinates).event.event_time == NOW_TEXT
    assert accepted({"$event_time": "  ", **IDENTIFIED}).event.event_time == NOW_TEXT


def test_event_time_wins_over_the_record_timestamp() -> None:
    props: dict[str, PropertyValue] = {"$event_time": "2026-01-23T10:00:00Z", **IDENTIFIED}
    outcome = accepted(props, timestamp_ms=NOW_MS - 5)
    assert outcome.event.event_time == "2026-01-23T10:00:00.000Z"


def test_future_time_within_the_skew_becomes_now_with_a_warning() -> None:
    outcome = accepted({"$event_time": NOW_MS + 299_000, **IDENTIFIED})
    assert outcome.event.event_time == NOW_TEXT
    assert outcome.warnings == (TransformWarning("event_time_adjusted", "$event_time"),)


def test_future_time_beyond_the_skew_rejects() -> None:
    outcome = rejected({"$event_time": NOW_MS + 301_000, **IDENTIFIED})
    assert outcome.rejection.reason == "event_time_in_future"
    assert outcome.rejection.field == "$event_time"


def test_skew_is_a_setting() -> None:
    props: dict[str, PropertyValue] = {"$event_time": NOW_MS + 10_000, **IDENTIFIED}
    assert rejected(props, max_future_skew_s=5).rejection.reason == "event_time_in_future"
    assert accepted(props, max_future_skew_s=60).event.event_time == NOW_TEXT


def test_future_record_timestamp_names_its_source() -> None:
    outcome = rejected(IDENTIFIED, timestamp_ms=NOW_MS + HOUR_MS)
    assert (outcome.rejection.reason, outcome.rejection.field) == (
        "event_time_in_future",
        "timestamp",
    )


def test_events_older_than_the_max_age_are_too_old() -> None:
    day_ms = 86_400_000
    props: dict[str, PropertyValue] = {"$event_time": NOW_MS - 8 * day_ms, **IDENTIFIED}
    outcome = rejected(props, max_event_age_s=7 * 86_400)
    assert (outcome.rejection.reason, outcome.rejection.field) == ("too_old", "$event_time")
    recent: dict[str, PropertyValue] = {"$event_time": NOW_MS - 6 * day_ms, **IDENTIFIED}
    assert (
        accepted(recent, max_event_age_s=7 * 86_400).event.event_time == "2026-01-17T12:34:56.000Z"
    )
    assert accepted(props).event.event_time == "2026-01-15T12:34:56.000Z"  # no limit by default


def test_parse_reports_whether_utc_was_assumed() -> None:
    assert parse_event_time("2026-01-23T10:00:00Z") == (1_769_162_400_000, False)
    assert parse_event_time("2026-01-23T10:00:00") == (1_769_162_400_000, True)


def test_parse_error_message_does_not_quote_the_value() -> None:
    with pytest.raises(Invalid) as caught:
        parse_event_time("secret-text-2026")
    assert "secret" not in caught.value.message
    assert caught.value.code == "invalid_event_time"


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (946_684_800_000, "2000-01-01T00:00:00.000Z"),
        (1_769_171_696_007, "2026-01-23T12:34:56.007Z"),
        (1_709_164_799_999, "2024-02-28T23:59:59.999Z"),
        (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
    ],
)
def test_format_is_utc_with_three_fraction_digits(epoch_ms: int, text: str) -> None:
    assert format_utc_ms(epoch_ms) == text


# --- epoch units by magnitude ----------------------------------------------------------------

TEN_AM = "2026-01-23T10:00:00.123Z"


@pytest.mark.parametrize(
    "value",
    [
        1_769_162_400.123,  # seconds
        1_769_162_400_123,  # milliseconds
        1_769_162_400_123_456,  # microseconds
        1_769_162_400_123_999_999,  # nanoseconds: sub-millisecond digits are cut
        "1769162400.123",
        "1769162400123",
        "1769162400123456",
        "1769162400123456789",
        1_769_162_400_123_456.0,
        1.769162400123456e18,
    ],
)
def test_epoch_seconds_millis_micros_and_nanos_are_told_apart(value: PropertyValue) -> None:
    outcome = accepted({"$event_time": value, **IDENTIFIED})
    assert outcome.event.event_time == TEN_AM
    assert outcome.warnings == ()


@pytest.mark.parametrize(
    ("value", "epoch_ms"),
    [
        (99_999_999_999, 99_999_999_999_000),  # just below 1e11: seconds (year 5138)
        (100_000_000_000, 100_000_000_000),  # 1e11: milliseconds (March 1973)
        (99_999_999_999_999, 99_999_999_999_999),  # just below 1e14: milliseconds
        (100_000_000_000_000, 100_000_000_000),  # 1e14: microseconds
        (99_999_999_999_999_999, 99_999_999_999_999),  # just below 1e17: microseconds
        (100_000_000_000_000_000, 100_000_000_000),  # 1e17: nanoseconds
        (2**63 - 1, 9_223_372_036_854),  # the largest long, as nanoseconds (year 2262)
    ],
)
def test_unit_boundaries(value: int, epoch_ms: int) -> None:
    assert parse_event_time(value) == (epoch_ms, False)


def test_microseconds_are_no_longer_an_event_in_the_future() -> None:
    now_us = NOW_MS * 1000
    assert accepted({"$event_time": now_us - 5_000_000, **IDENTIFIED}).event_time_ms == (
        NOW_MS - 5_000
    )
