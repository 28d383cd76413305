"""The pure parts of `backfill`: its plan from the arguments, its scope's end, its progress lines,
and the report's count of a backfill's results."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from connector.commands.backfill import configure
from connector.commands.backfill.plan import LIVE_CAP_SHARE, plan_backfill
from connector.commands.backfill.scope import BackfillScope
from connector.commands.progress import Progress
from connector.commands.report import Summary
from connector.config import (
    ConnectionSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    SpotifySettings,
    TransformSettings,
)
from connector.errors import InputError
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates, SourceRecord

NOW_MS = 1_796_000_000_000  # 2026-11-30T...Z
HOUR_MS = 3_600_000


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def settings(**update: Any) -> Settings:
    base = Settings(
        kafka=KafkaSettings(input_topic="orders,signups", group_id="capi"),
        spotify=SpotifySettings(
            token=SecretStr("t"),
            connection_id="c",
            connections={
                "shop_b": ConnectionSettings(token=SecretStr("tb"), connection_id="cb"),
                "shop_c": ConnectionSettings(
                    token=SecretStr("tc"),
                    connection_id="cc",
                    max_requests_per_second=40,
                ),
            },
        ),
        sink=SinkSettings(max_requests_per_second=100),
    )
    return base.model_copy(update=update)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_a_range_reads_the_named_input_topics_with_its_own_group_and_a_quarter_of_each_cap() -> (
    None
):
    plan = plan_backfill(settings(), args("--from", "48h", "--to", "24h", "--id", "w1"), NOW_MS)
    assert (plan.from_ms, plan.to_ms) == (NOW_MS - 48 * HOUR_MS, NOW_MS - 24 * HOUR_MS)
    assert plan.topics == ("orders", "signups")
    assert plan.group_id == "capi-backfill-w1"
    assert plan.settings.kafka.input_topic == "orders,signups"
    assert LIVE_CAP_SHARE == 0.25
    assert plan.caps == {"default": 25.0, "shop_b": 25.0, "shop_c": 10.0}
    assert plan.settings.max_requests_per_second("default") == 25.0
    assert plan.settings.max_requests_per_second("shop_b") == 25.0
    assert plan.settings.max_requests_per_second("shop_c") == 10.0
    assert plan.settings.routing == settings().routing  # the live routing rules
    assert plan.notes == ()


def test_a_connection_takes_every_event_and_an_explicit_cap_wins() -> None:
    plan = plan_backfill(
        settings(),
        args("--from", "2026-11-01", "--connection", "shop_b", "--max-requests-per-second", "7"),
        NOW_MS,
    )
    assert plan.connection == "shop_b"
    assert plan.settings.routing.routes == {}
    assert plan.settings.routing.default == "shop_b"
    assert plan.caps == {"shop_b": 7.0}
    assert plan.settings.max_requests_per_second("shop_b") == 7.0
    assert plan.to_ms == NOW_MS  # no --to: up to now


def test_a_to_in_the_future_is_clamped_to_now_with_a_line_saying_so() -> None:
    plan = plan_backfill(settings(), args("--from", "1h", "--to", iso(NOW_MS + HOUR_MS)), NOW_MS)
    assert plan.to_ms == NOW_MS
    assert plan.notes[0].startswith("--to is in the future: the range ends now (")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--from", "1h", "--to", "2h"), "the range is empty: --from .* must be before --to"),
        (("--from", "1h", "--to", "1h"), "the range is empty"),
        (("--from", "yesterday"), "--from: not a time: 'yesterday'"),
        (("--from", "1h", "--topic", "payments"), "--topic payments is not an input topic"),
        (("--from", "1h", "--connection", "shop_z"), "--connection shop_z: no such connection"),
        (("--from", "1h", "--id", "no spaces"), "--id must be 1 to 63 letters"),
    ],
)
def test_arguments_it_refuses(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        plan_backfill(settings(), args(*argv), NOW_MS)


def test_a_pattern_input_needs_named_topics_that_match_it() -> None:
    by_pattern = settings(kafka=KafkaSettings(input_topic="^orders-.*", group_id="capi"))
    with pytest.raises(InputError, match="is a pattern"):
        plan_backfill(by_pattern, args("--from", "1h"), NOW_MS)
    plan = plan_backfill(by_pattern, args("--from", "1h", "--topic", "orders-eu"), NOW_MS)
    assert plan.topics == ("orders-eu",)
    with pytest.raises(InputError, match="not an input topic"):
        plan_backfill(by_pattern, args("--from", "1h", "--topic", "refunds"), NOW_MS)


def test_the_same_arguments_make_the_same_id_and_others_another() -> None:
    first = plan_backfill(settings(), args("--from", "7d", "--topic", "orders"), NOW_MS)
    again = plan_backfill(settings(), args("--from", "7d", "--topic", "orders"), NOW_MS + HOUR_MS)
    other = plan_backfill(settings(), args("--from", "6d", "--topic", "orders"), NOW_MS)
    assert first.id == again.id
    assert len(first.id) == 10
    assert other.id != first.id


def test_without_a_live_cap_it_says_the_backfill_is_uncapped() -> None:
    uncapped = settings(
        sink=SinkSettings(),
        spotify=SpotifySettings(token=SecretStr("t"), connection_id="c"),
    )
    plan = plan_backfill(uncapped, args("--from", "1h"), NOW_MS)
    assert plan.caps == {"default": None}
    assert any(note.startswith("no request-rate cap") for note in plan.notes)


def test_a_range_older_than_the_event_age_limit_says_those_are_rejected() -> None:
    aged = settings(transform=TransformSettings(max_event_age_s=86_400))
    plan = plan_backfill(aged, args("--from", "48h"), NOW_MS)
    assert any("max_event_age_s (86400 s) are rejected" in note for note in plan.notes)


# --- the scope's end -------------------------------------------------------------------------


def envelope(topic: str, partition: int, offset: int) -> SourceRecord:
    return SourceRecord(SourceCoordinates(topic, partition, offset), None, b"", (), 0)


def result(topic: str, partition: int, offset: int) -> DeliveryResult:
    return DeliveryResult(
        SourceCoordinates(topic, partition, offset), DeliveryStatus.DELIVERED, 0, 0
    )


def test_the_scope_selects_its_range_and_ends_when_each_partition_settled() -> None:
    scope = BackfillScope({("orders", 0): (10, 13), ("orders", 1): (5, 5)})
    assert scope.total == 3
    assert not scope.complete
    picked = [o for o in range(9, 15) if scope.selects(envelope("orders", 0, o))]
    assert picked == [10, 11, 12]  # the neighbours out
    assert not scope.complete  # read, not settled
    scope.count([result("orders", 0, 10), result("orders", 0, 11)])
    assert not scope.complete
    scope.count([result("orders", 0, 12)])
    assert scope.complete
    assert scope.done == 3


def test_a_gap_before_the_end_ends_the_partition_at_the_first_record_past_it() -> None:
    """A compacted topic: offsets 11 and 12 are gone; the record at 13 (past the end) says the
    range was read whole."""
    scope = BackfillScope({("orders", 0): (10, 13)})
    assert scope.selects(envelope("orders", 0, 10))
    scope.count([result("orders", 0, 10)])
    assert not scope.complete
    assert not scope.selects(envelope("orders", 0, 13))
    assert scope.complete


# --- progress lines --------------------------------------------------------------------------


def test_plain_progress_lines_at_most_every_interval_and_at_the_end() -> None:
    now = [100.0]
    out = io.StringIO()
    progress = Progress(5000, "backfill w1", stream=out, every_s=10, clock=lambda: now[0])
    now[0] = 104.0
    progress.advance_to(1000)  # 4 s in: no line yet
    now[0] = 110.0
    progress.advance_to(1200)
    now[0] = 112.0
    progress.advance_to(2000)  # 2 s after the last line: none
    now[0] = 120.0
    progress.advance_to(5000)
    progress.close()
    assert out.getvalue().splitlines() == [
        "backfill w1 1200/5000 records (24.0 %), 120/s, ETA 0:00:32",
        "backfill w1 5000/5000 records (100.0 %), 250/s, ETA -",
    ]
    quiet = io.StringIO()
    Progress(0, "backfill w2", stream=quiet).close()
    assert quiet.getvalue() == "backfill w2 0/0 records (100.0 %), 0/s, ETA -\n"


# --- report ------------------------------------------------------------------------------------


def test_the_report_counts_each_backfills_results_apart() -> None:
    summary = Summary()
    base = {
        "source_topic": "orders",
        "source_partition": 0,
        "event_name": "PURCHASE",
        "error_code": None,
        "settled_at": 1_000,
        "latency_ms": 5,
    }
    for offset, status, backfill in [
        (1, "DELIVERED", None),
        (2, "DELIVERED", "w1"),
        (3, "REJECTED_TRANSFORM", "w1"),
        (4, "DELIVERED", "w2"),
    ]:
        summary.add(
            {**base, "source_offset": offset, "event_id": f"e{offset}", "status": status,
             "backfill": backfill}
        )  # fmt: skip
    wire = summary.to_wire()
    assert wire["by_status"] == {"DELIVERED": 3, "REJECTED_TRANSFORM": 1}
    assert wire["backfills"] == {
        "w1": {"DELIVERED": 1, "REJECTED_TRANSFORM": 1},
        "w2": {"DELIVERED": 1},
    }
