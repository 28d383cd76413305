"""The pure parts of the operations commands: time arguments, report counting, replay selection."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.commands.replay import ReplayScope, original_coordinates
from connector.commands.report import Summary, parse_time, percentiles, render_table
from connector.models import SourceCoordinates, SourceRecord

NOW_MS = 1_795_000_000_000


def test_time_arguments_iso_and_relative() -> None:
    assert parse_time("2026-11-27", NOW_MS) == 1_795_737_600_000
    assert parse_time("2026-11-27T01:00:00+01:00", NOW_MS) == 1_795_737_600_000
    assert parse_time("2026-11-27T00:00:00Z", NOW_MS) == 1_795_737_600_000
    assert parse_time("24h", NOW_MS) == NOW_MS - 86_400_000
    assert parse_time("30m", NOW_MS) == NOW_MS - 1_800_000
    assert parse_time("7d", NOW_MS) == NOW_MS - 604_800_000
    with pytest.raises(argparse.ArgumentTypeError, match="not a time: 'yesterday'"):
        parse_time("yesterday", NOW_MS)


def test_percentiles_by_nearest_rank() -> None:
    assert percentiles([]) is None
    assert percentiles([7]) == {"p50": 7, "p90": 7, "p99": 7, "max": 7}
    values = list(range(1, 101))  # 1..100
    assert percentiles(values[::-1]) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}


def record(offset: int, status: str, settled: int, **fields: Any) -> dict[str, Any]:
    base = {
        "source_topic": "events",
        "source_partition": 0,
        "source_offset": offset,
        "event_id": f"e{offset}",
        "event_name": "PURCHASE",
        "status": status,
        "http_status": None,
        "error_code": None if status == "DELIVERED" else "spotify_400",
        "settled_at": datetime.fromtimestamp(settled / 1000, UTC),
        "latency_ms": 10 * offset,
        "sp_trace_id": None,
    }
    return {**base, **fields}


def test_a_later_delivery_settles_a_problem_and_the_oldest_open_one_is_named() -> None:
    summary = Summary()
    summary.add(record(1, "REJECTED_SPOTIFY", 1_000))
    summary.add(record(2, "RETRY_EXHAUSTED", 2_000, error_code="retry_exhausted"))
    summary.add(record(3, "DELIVERED", 3_000))
    summary.add(record(1, "DELIVERED", 4_000))  # a replay delivered e1
    summary.add(record(4, "UNDECODABLE", 5_000, event_id=None, event_name=None, error_code="x"))
    summary.add(record(4, "UNDECODABLE", 6_000, event_id=None, event_name=None, error_code="x"))
    wire = summary.to_wire()
    assert wire["results"] == 6
    assert wire["by_status"] == {
        "DELIVERED": 2,
        "REJECTED_SPOTIFY": 1,
        "RETRY_EXHAUSTED": 1,
        "UNDECODABLE": 2,
    }
    assert wire["by_event_name"] == {
        "(none)": {"UNDECODABLE": 2},
        "PURCHASE": {"DELIVERED": 2, "REJECTED_SPOTIFY": 1, "RETRY_EXHAUSTED": 1},
    }
    assert wire["by_error_code"] == {"retry_exhausted": 1, "spotify_400": 1, "x": 2}
    assert wire["delivery_latency_ms"] == {"p50": 10, "p90": 30, "p99": 30, "max": 30}
    assert wire["unsettled_problems"] == 2  # e2, and the undecodable record at offset 4
    assert wire["oldest_unsettled_problem"]["event_id"] == "e2"
    assert wire["oldest_unsettled_problem"]["settled_at"] == "1970-01-01T00:00:02.000Z"
    table = render_table(wire)
    assert "unsettled problems   2" in table
    assert "event_id=e2 at events[0]@2" in table


def test_fields_spotify_refuses_are_listed_by_connection_with_since_and_last() -> None:
    summary = Summary()
    clicked = ["spotify_400_removed:user_data.clickID"]
    summary.add(record(1, "DELIVERED", 3_000, warnings=clicked, connection="default"))
    summary.add(record(2, "DELIVERED", 1_000, warnings=clicked, connection="default"))
    summary.add(record(3, "DELIVERED", 2_000, warnings=["invalid_phone"], connection="default"))
    both = [*clicked, "spotify_400_removed:user_data.gender"]
    summary.add(record(4, "DELIVERED", 5_000, warnings=both, connection="globex"))
    summary.add(record(5, "REJECTED_SPOTIFY", 6_000, warnings=clicked, connection="globex"))
    wire = summary.to_wire()
    assert wire["refused_fields"] == [
        {
            "connection": "default",
            "field": "user_data.clickID",
            "events": 2,
            "since": "1970-01-01T00:00:01.000Z",
            "last": "1970-01-01T00:00:03.000Z",
        },
        {
            "connection": "globex",
            "field": "user_data.clickID",
            "events": 1,
            "since": "1970-01-01T00:00:05.000Z",
            "last": "1970-01-01T00:00:05.000Z",
        },
        {
            "connection": "globex",
            "field": "user_data.gender",
            "events": 1,
            "since": "1970-01-01T00:00:05.000Z",
            "last": "1970-01-01T00:00:05.000Z",
        },
    ]
    table = render_table(wire)
    rows = [line.split() for line in table.splitlines() if "user_data." in line]
    assert rows == [
        [
            "default",
            "user_data.clickID",
            "2",
            "1970-01-01T00:00:01.000Z",
            "1970-01-01T00:00:03.000Z",
        ],
        [
            "globex",
            "user_data.clickID",
            "1",
            "1970-01-01T00:00:05.000Z",
            "1970-01-01T00:00:05.000Z",
        ],
        ["globex", "user_data.gender", "1", "1970-01-01T00:00:05.000Z", "1970-01-01T00:00:05.000Z"],
    ]
    assert Summary().to_wire()["refused_fields"] == []
    assert "fields Spotify refuses" not in render_table(Summary().to_wire())


def test_an_older_result_read_late_does_not_reopen_a_delivered_event() -> None:
    summary = Summary()
    summary.add(record(1, "DELIVERED", 5_000))
    summary.add(record(1, "REJECTED_SPOTIFY", 1_000))  # another partition of the results topic
    assert summary.to_wire()["unsettled_problems"] == 0


def test_the_time_range_selects_by_settled_at() -> None:
    summary = Summary(since_ms=2_000, until_ms=4_000)
    for offset, settled in enumerate((1_999, 2_000, 3_999, 4_000)):
        summary.add(record(offset, "DELIVERED", settled))
    assert summary.to_wire()["results"] == 2


def dead_letter(offset: int, reason: str, when: int | None, **headers: str) -> SourceRecord:
    pairs = {"capi.error.reason": reason, **headers}
    return SourceRecord(
        coordinates=SourceCoordinates("events-dlq", 0, offset, when),
        key=None,
        value=b"x",
        headers=tuple((k, v.encode()) for k, v in pairs.items()),
    )


def test_replay_selects_by_reason_time_and_the_start_end_offsets() -> None:
    scope = ReplayScope({0: (10, 15)}, frozenset({"spotify_400"}), since_ms=100, until_ms=200)
    picks = [
        scope.selects(dead_letter(10, "spotify_400", 150)),
        scope.selects(dead_letter(11, "retry_exhausted", 150)),
        scope.selects(dead_letter(12, "spotify_400", 99)),
        scope.selects(dead_letter(13, "spotify_400", 200)),
        scope.selects(dead_letter(14, "spotify_400", 199)),
        scope.selects(dead_letter(15, "spotify_400", 150)),  # past the stop line
    ]
    assert picks == [True, False, False, False, True, False]
    assert (scope.total, scope.selected, scope.done, scope.complete) == (5, 2, 3, False)
    scope.done += 2  # the two selected ones settled
    assert scope.complete


def test_replay_keeps_the_original_coordinates_of_a_dead_letter() -> None:
    headers = {
        "capi.source.topic": "events",
        "capi.source.partition": "2",
        "capi.source.offset": "4711",
    }
    envelope = dead_letter(3, "spotify_400", 123, **headers)
    assert original_coordinates(envelope) == SourceCoordinates("events", 2, 4711, 123)
    foreign = dead_letter(3, "spotify_400", 123, **{"capi.source.offset": "not a number"})
    assert original_coordinates(foreign) == foreign.coordinates


def test_the_report_shows_the_derived_event_id_share_per_name_and_the_hint() -> None:
    """Results written by the codec with known ids (derived from their coordinates or the event's
    own), read back as report reads them: the shares per event name, and the hint."""
    from connector.models import DeliveryResult, DeliveryStatus
    from connector.results.codec import encode_result
    from connector.results.event_ids import HINT
    from connector.schemas import avro
    from connector.transform.event_id import derive_event_id

    schema = avro.bundled_schema(avro.DELIVERY_RESULT)

    def written(offset: int, name: str, *, own: bool, status: str = "DELIVERED") -> dict[str, Any]:
        here = SourceCoordinates("events", 0, offset)
        event_id = f"order-{offset}" if own else derive_event_id(here)
        result = DeliveryResult(
            here, DeliveryStatus(status), 1_000, 2_000, event_id=event_id, event_name=name
        )
        decoded: dict[str, Any] = avro.decode(schema, encode_result(result))
        return decoded

    summary = Summary()
    for offset in range(8):  # PURCHASE: 6 with the order id, 2 derived
        summary.add(written(offset, "PURCHASE", own=offset < 6))
    for offset in range(8, 12):  # LEAD: all 4 derived
        summary.add(written(offset, "LEAD", own=False))
    summary.add(written(12, "LEAD", own=False, status="REJECTED_SPOTIFY"))  # not delivered
    wire = summary.to_wire()
    assert wire["event_ids"] == {
        "by_event_name": {
            "LEAD": {"event": 0, "derived": 4, "derived_share": 1.0},
            "PURCHASE": {"event": 6, "derived": 2, "derived_share": 0.25},
        },
        "hint": HINT,
    }
    table = render_table(wire)
    rows = [line.split() for line in table.splitlines() if line.startswith(("  LEAD ", "  PURC"))]
    assert ["LEAD", "0", "4", "100.0%"] in rows
    assert ["PURCHASE", "6", "2", "25.0%"] in rows
    assert f"derived ids: {HINT}" in table

    given_only = Summary()
    given_only.add(written(1, "PURCHASE", own=True))
    assert given_only.to_wire()["event_ids"] == {
        "by_event_name": {"PURCHASE": {"event": 1, "derived": 0, "derived_share": 0.0}},
        "hint": None,
    }
    assert "derived ids" not in render_table(given_only.to_wire())
