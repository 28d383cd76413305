"""Reconciliation's pure parts: both sides' counts, pending buckets, netting, and the causes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.reconcile.compare import Dataset, reconcile
from connector.reconcile.counts import (
    CAPI_NAME_OF,
    Counted,
    Delivered,
    DeliveredCounts,
    bucket_of,
    counted_from,
)

HOUR = 3_600_000
H0 = 1_796_000_400_000 - 1_796_000_400_000 % HOUR  # the start of an hour
DELAY = 20 * 60_000


def result(settled: int, name: str = "PURCHASE", **fields: Any) -> dict[str, Any]:
    return {
        "status": "DELIVERED",
        "settled_at": settled,
        "event_name": name,
        "connection": "default",
        "event_id": f"e-{settled}-{name}",
        **fields,
    }


def test_delivered_counts_each_event_once_in_the_bucket_it_settled_in() -> None:
    counts = DeliveredCounts("hour", since_ms=H0)
    counts.add(result(H0 + 10))
    counts.add(result(H0 + 10))  # redelivered after a crash: Spotify counts it once
    counts.add(result(H0 + HOUR + 5, "LEAD", connection="shop_b"))
    counts.add(result(H0 + 20, status="REJECTED_SPOTIFY"))
    counts.add(result(H0 - 1))  # before the window
    counts.add(result(H0 + 30, event_id=None))
    counts.add(result(H0 + 30, event_id=None))  # without an id nothing tells them apart
    default = counts.by_connection["default"]
    assert default.counts == Counter({("PURCHASE", H0): 3})
    assert default.newest_ms == {H0: H0 + 30}
    assert counts.by_connection["shop_b"].counts == Counter({("LEAD", H0 + HOUR): 1})


def test_days_are_utc_midnights() -> None:
    day = 86_400_000
    assert bucket_of(H0 + 5, "day") == H0 - H0 % day
    assert bucket_of(H0 + 5, "hour") == H0


def diagnostics(*points: tuple[int, list[tuple[str, int]]], kind: str = "CAPI") -> dict[str, Any]:
    return {
        "dataset_id": "d",
        "datasources": [
            {
                "datasource_type": kind,
                "datasource_id": "x",
                "granularity": "HOURLY",
                "timeseries": [
                    {
                        "timestamp": at,
                        "total": sum(n for _, n in counts),
                        "event_counts": [
                            {"name": name, "event_count": n, "last_activity_ms": at + 60_000}
                            for name, n in counts
                        ],
                    }
                    for at, counts in points
                ],
            }
        ],
    }


def test_counted_reads_capi_datasources_and_maps_spotify_s_internal_names() -> None:
    assert CAPI_NAME_OF == {
        "ADDTOCART": "ADD_TO_CART",
        "CHECKOUT": "CHECK_OUT",
        "SIGNUP": "SIGN_UP",
    }
    answer = diagnostics((H0, [("ADDTOCART", 4), ("PURCHASE", 2)]), (H0 + HOUR, [("SIGNUP", 1)]))
    pixel = diagnostics((H0, [("PURCHASE", 9)]), kind="PIXEL")
    answer["datasources"] += pixel["datasources"]
    counted = counted_from(answer, "hour", since_ms=H0)
    assert counted.counts == Counter(
        {("ADD_TO_CART", H0): 4, ("PURCHASE", H0): 2, ("SIGN_UP", H0 + HOUR): 1}
    )
    assert counted.has_capi
    assert counted.last_activity_ms == H0 + HOUR + 60_000
    assert not counted_from(pixel, "hour", since_ms=H0).has_capi
    assert counted_from(answer, "hour", since_ms=H0 + HOUR).counts == Counter(
        {("SIGN_UP", H0 + HOUR): 1}
    )


def delivered(**counts: int) -> Delivered:
    """`h0_PURCHASE=5` → 5 PURCHASE delivered in hour 0; the newest delivery mid-hour."""
    out = Delivered()
    for key, n in counts.items():
        hour, name = key.split("_", 1)
        bucket = H0 + int(hour[1:]) * HOUR
        out.counts[(name, bucket)] = n
        out.newest_ms[bucket] = bucket + HOUR // 2
    return out


def counted(*, has_capi: bool = True, **counts: int) -> Counted:
    table: Counter[tuple[str, int]] = Counter()
    for key, n in counts.items():
        hour, name = key.split("_", 1)
        table[(name, H0 + int(hour[1:]) * HOUR)] = n
    return Counted(table, has_capi, None)


def test_equal_counts_reconcile_to_no_gap_and_recent_buckets_are_pending() -> None:
    ours = {"default": delivered(h0_PURCHASE=10, h1_PURCHASE=4, h2_PURCHASE=7)}
    theirs = Dataset("default", "d", counted(h0_PURCHASE=10, h1_PURCHASE=4), linked=True)
    # Hour 2's newest delivery (mid-hour) is 5 minutes old: inside the delay.
    now = H0 + 2 * HOUR + HOUR // 2 + 5 * 60_000
    outcome = reconcile(ours, [theirs], granularity_ms=HOUR, delay_ms=DELAY, now_ms=now)
    assert [(r.bucket_ms - H0) // HOUR for r in outcome.rows] == [0, 1, 2]
    assert [(r.delivered, r.counted, r.gap, r.state) for r in outcome.rows] == [
        (10, 10, 0, "ok"),
        (4, 4, 0, "ok"),
        (7, 0, 0, "pending"),
    ]
    assert outcome.gap == 0
    assert outcome.causes == []
    [total] = outcome.totals
    assert (total.delivered, total.counted, total.gap, total.gap_ratio) == (14, 14, 0, 0.0)
    # Once the delay passed since its newest delivery, the open hour is compared too.
    later = reconcile(ours, [theirs], granularity_ms=HOUR, delay_ms=DELAY, now_ms=now + DELAY)
    assert later.rows[2].state == "gap"
    assert later.gap == 7


def test_a_surplus_before_a_gap_is_an_answer_across_the_hour_and_nets() -> None:
    ours = {"default": delivered(h0_LEAD=9, h1_LEAD=11, h2_LEAD=5)}
    theirs = Dataset("default", "d", counted(h0_LEAD=10, h1_LEAD=10, h2_LEAD=6), linked=True)
    outcome = reconcile(ours, [theirs], granularity_ms=HOUR, delay_ms=DELAY, now_ms=H0 + 9 * HOUR)
    assert [(r.gap, r.state) for r in outcome.rows] == [(0, "ok"), (0, "ok"), (-1, "surplus")]
    assert outcome.gap == 0


def test_a_lost_share_of_one_name_shows_on_that_name_only() -> None:
    ours = {"default": delivered(h0_PURCHASE=100, h0_LEAD=50)}
    theirs = Dataset("default", "d", counted(h0_PURCHASE=90, h0_LEAD=50), linked=True)
    outcome = reconcile(ours, [theirs], granularity_ms=HOUR, delay_ms=DELAY, now_ms=H0 + 3 * HOUR)
    gaps = {t.event_name: (t.gap, t.gap_ratio) for t in outcome.totals}
    assert gaps == {"LEAD": (0, 0.0), "PURCHASE": (10, 0.1)}
    assert outcome.causes == []  # a share lost has no cause to name


def test_causes_unlinked_dataset_no_capi_activity_and_a_missing_name() -> None:
    ours = {name: delivered(h0_PURCHASE=5, h0_LEAD=3) for name in ("a", "b", "c")}
    datasets = [
        Dataset("a", "da", counted(), linked=False),
        Dataset("b", "db", counted(has_capi=False), linked=True),
        Dataset("c", "dc", counted(h0_PURCHASE=5), linked=True),
    ]
    outcome = reconcile(ours, datasets, granularity_ms=HOUR, delay_ms=DELAY, now_ms=H0 + 3 * HOUR)
    assert len(outcome.causes) == 3
    a, b, c = outcome.causes
    assert a.startswith("a: the CAPI integration is not linked to dataset da")
    assert b.startswith("b: dataset db shows no CAPI activity at all while 8 events")
    assert c.startswith("c: Spotify counted no LEAD at all (3 delivered)")
    assert outcome.gap == 8 + 8 + 3
