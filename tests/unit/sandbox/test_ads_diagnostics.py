"""Dataset diagnostics over real HTTP, counted from events posted to the real CAPI endpoint.

The Ads API's clock is a FakeClock: arrival times, the processing delay and bucket edges are
set exactly, and nothing races the wall clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from capi_devtools.sandbox import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_DATASET_ID,
    DIAGNOSTIC_NAMES,
    SandboxServer,
    SandboxSettings,
    diagnostic_name,
)
from connector.config import SPOTIFY_EVENT_NAMES
from tests.unit.sandbox.ads_support import AdsClient, FakeClock, epoch_ms, epoch_s, event
from tests.unit.sandbox.conftest import Post, envelope

T0 = "2026-01-23T12:34:56.250Z"
OTHER_DATASET = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
OTHER_CONNECTION = "c0ffee00-1234-4abc-8def-0123456789ab"
# The Ads API spec's SignalEventType: the names diagnostics and events_received may report.
SIGNAL_EVENT_TYPES = {
    "VIEW",
    "PRODUCT",
    "CHECKOUT",
    "ADDTOCART",
    "PURCHASE",
    "LEAD",
    "ALIAS",
    "SIGNUP",
    "CLICK",
    *(f"CUSTOM_EVENT_{n}" for n in range(1, 6)),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(epoch_s(T0))


@pytest.fixture
def settings() -> SandboxSettings:
    return SandboxSettings(
        connection_ids=(DEFAULT_CONNECTION_ID, OTHER_CONNECTION),
        ads_datasets={DEFAULT_DATASET_ID: DEFAULT_CONNECTION_ID, OTHER_DATASET: OTHER_CONNECTION},
        ads_diagnostics_delay_s=0,
    )


@pytest.fixture
async def sandbox(settings: SandboxSettings, clock: FakeClock) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(settings, ads_clock=clock) as server:
        yield server


@pytest.fixture
async def ads(sandbox: SandboxServer, session: aiohttp.ClientSession) -> AdsClient:
    return AdsClient(session, sandbox)


async def _accepted(post: Post, events: list[dict[str, Any]], connection: str = "") -> None:
    answer = await post(envelope(events, connection or DEFAULT_CONNECTION_ID))
    assert answer.status == 200, answer.body


def _counts(bucket: dict[str, Any]) -> dict[str, int]:
    return {entry["name"]: entry["event_count"] for entry in bucket["event_counts"]}


def test_diagnostic_names_rename_three_capi_names_and_keep_the_others() -> None:
    assert DIAGNOSTIC_NAMES == {
        "ADD_TO_CART": "ADDTOCART",
        "CHECK_OUT": "CHECKOUT",
        "SIGN_UP": "SIGNUP",
    }
    assert {diagnostic_name(name) for name in SPOTIFY_EVENT_NAMES} <= SIGNAL_EVENT_TYPES
    assert diagnostic_name("VIEW") == "VIEW"
    assert diagnostic_name("SOMETHING_NEW") == "SOMETHING_NEW"


async def test_hourly_and_daily_buckets_by_value(
    post: Post, ads: AdsClient, clock: FakeClock
) -> None:
    await _accepted(post, [event("v1"), event("v2"), event("a1", "ADD_TO_CART")])
    clock.set("2026-01-23T12:40:00.500Z")
    await _accepted(post, [event("v3")])
    clock.set("2026-01-23T13:05:00.000Z")
    batch = [event("c1", "CHECK_OUT"), event("s1", "SIGN_UP"), event("p1", "PURCHASE")]
    await _accepted(post, [*batch, event("v1")])  # v1 again: Spotify counts it once
    clock.set("2026-01-24T00:00:00.000Z")
    await _accepted(post, [event(n, n) for n in ("CUSTOM_EVENT_1", "LEAD", "PRODUCT")])
    token = await ads.access_token()

    answer = await ads.diagnostics(token, "HOURLY", "DAILY")

    def counts(*entries: tuple[str, int, str]) -> list[dict[str, Any]]:
        return [
            {"name": name, "event_count": count, "last_activity_ms": epoch_ms(last)}
            for name, count, last in entries
        ]

    noon, one = "2026-01-23T12:40:00.500Z", "2026-01-23T13:05:00.000Z"
    midnight = "2026-01-24T00:00:00.000Z"
    next_day = {
        "timestamp": epoch_ms(midnight),
        "total": 3,
        "event_counts": counts(
            ("CUSTOM_EVENT_1", 1, midnight), ("LEAD", 1, midnight), ("PRODUCT", 1, midnight)
        ),
    }
    hourly = [
        {
            "timestamp": epoch_ms("2026-01-23T12:00:00Z"),
            "total": 4,
            "event_counts": counts(("ADDTOCART", 1, T0), ("VIEW", 3, noon)),
        },
        {
            "timestamp": epoch_ms("2026-01-23T13:00:00Z"),
            "total": 3,
            "event_counts": counts(("CHECKOUT", 1, one), ("PURCHASE", 1, one), ("SIGNUP", 1, one)),
        },
        next_day,
    ]
    daily = [
        {
            "timestamp": epoch_ms("2026-01-23T00:00:00Z"),
            "total": 7,
            "event_counts": counts(
                ("ADDTOCART", 1, T0),
                ("CHECKOUT", 1, one),
                ("PURCHASE", 1, one),
                ("SIGNUP", 1, one),
                ("VIEW", 3, noon),
            ),
        },
        next_day,
    ]
    assert answer.status == 200
    assert answer.body == {
        "dataset_id": DEFAULT_DATASET_ID,
        "datasources": [
            {
                "datasource_type": "CAPI",
                "datasource_id": DEFAULT_CONNECTION_ID,
                "granularity": granularity,
                "timeseries": timeseries,
            }
            for granularity, timeseries in (("HOURLY", hourly), ("DAILY", daily))
        ],
    }


async def test_buckets_start_at_the_utc_hour_and_midnight(
    post: Post, ads: AdsClient, clock: FakeClock
) -> None:
    for n, moment in enumerate(
        ("2026-01-23T23:59:59.999Z", "2026-01-24T00:00:00.000Z", "2026-01-24T00:59:59.999Z")
    ):
        clock.set(moment)
        await _accepted(post, [event(f"e{n}")])
    token = await ads.access_token()

    answer = await ads.diagnostics(token, "DAILY,HOURLY")  # a comma-separated value works too

    daily, hourly = answer.body["datasources"]
    assert (daily["granularity"], hourly["granularity"]) == ("DAILY", "HOURLY")
    assert [(b["timestamp"], b["total"]) for b in hourly["timeseries"]] == [
        (epoch_ms("2026-01-23T23:00:00Z"), 1),
        (epoch_ms("2026-01-24T00:00:00Z"), 2),
    ]
    assert [(b["timestamp"], b["total"]) for b in daily["timeseries"]] == [
        (epoch_ms("2026-01-23T00:00:00Z"), 1),
        (epoch_ms("2026-01-24T00:00:00Z"), 2),
    ]
    last = hourly["timeseries"][1]["event_counts"][0]["last_activity_ms"]
    assert last == epoch_ms("2026-01-24T00:59:59.999Z")


async def test_a_redelivered_event_id_counts_once_per_connection(
    post: Post, ads: AdsClient, sandbox: SandboxServer
) -> None:
    await _accepted(post, [event("same"), event("same")])
    await _accepted(post, [event("same", "LEAD")])  # the id counts, whatever it carries now
    await _accepted(post, [event("same")], OTHER_CONNECTION)  # another connection's own id
    token = await ads.access_token()

    mine = await ads.diagnostics(token, "HOURLY")
    other = await ads.diagnostics(token, "HOURLY", dataset_id=OTHER_DATASET)

    assert [_counts(b) for b in mine.body["datasources"][0]["timeseries"]] == [{"VIEW": 1}]
    assert [_counts(b) for b in other.body["datasources"][0]["timeseries"]] == [{"VIEW": 1}]
    assert other.body["datasources"][0]["datasource_id"] == OTHER_CONNECTION
    assert sandbox.state.accepted_ids(DEFAULT_CONNECTION_ID) == {"same": 3}  # all were accepted
    assert sandbox.state.stats().ads_events_counted == 2


async def test_the_datasource_filter(post: Post, ads: AdsClient) -> None:
    await _accepted(post, [event("a")])
    token = await ads.access_token()

    mine = await ads.diagnostics(token, "HOURLY", more=[("datasource_ids", DEFAULT_CONNECTION_ID)])
    others = await ads.diagnostics(token, "HOURLY", more=[("datasource_ids", OTHER_CONNECTION)])

    assert len(mine.body["datasources"]) == 1
    assert others.body == {"dataset_id": DEFAULT_DATASET_ID, "datasources": []}


async def test_a_linked_dataset_without_events_lists_its_datasource_empty(ads: AdsClient) -> None:
    answer = await ads.diagnostics(await ads.access_token(), "HOURLY")
    assert answer.body["datasources"] == [
        {
            "datasource_type": "CAPI",
            "datasource_id": DEFAULT_CONNECTION_ID,
            "granularity": "HOURLY",
            "timeseries": [],
        }
    ]


async def test_events_show_only_after_the_processing_delay(
    post: Post, ads: AdsClient, sandbox: SandboxServer, clock: FakeClock
) -> None:
    sandbox.configure(ads_diagnostics_delay_s=1200)
    await _accepted(post, [event("early", "LEAD")])  # arrives at 12:34:56.250
    token = await ads.access_token()

    clock.set("2026-01-23T12:54:55.999Z")
    hidden = await ads.diagnostics(token, "HOURLY")
    hidden_dataset = await ads.dataset(token)
    clock.set("2026-01-23T12:54:56.000Z")  # 1200 s after its arrival second
    shown = await ads.diagnostics(token, "HOURLY")
    shown_dataset = await ads.dataset(token)

    assert hidden.body["datasources"][0]["timeseries"] == []
    assert hidden_dataset.body["capi_integration"]["events_received"] == []
    assert hidden_dataset.body["is_receiving_events"] is False
    assert [_counts(b) for b in shown.body["datasources"][0]["timeseries"]] == [{"LEAD": 1}]
    assert shown_dataset.body["capi_integration"]["events_received"] == [
        {"event_type": "LEAD", "first_event_time": "2026-01-23T12:34:56.250Z"}
    ]


async def test_the_default_delay_is_spotifys_twenty_minutes() -> None:
    assert SandboxSettings().ads_diagnostics_delay_s == 1200


@pytest.mark.parametrize(("share", "lost"), [(0.1, 10), (0.29, 29), (1.0, 100), (0.0, 0)])
async def test_loss_is_exact_and_only_for_the_named_events(
    post: Post, ads: AdsClient, sandbox: SandboxServer, share: float, lost: int
) -> None:
    sandbox.configure(ads_diagnostics_loss={"ADD_TO_CART": share})
    for start in range(0, 100, 25):  # four requests: the count runs across batches
        batch = [event(f"cart-{n}", "ADD_TO_CART") for n in range(start, start + 25)]
        await _accepted(post, [*batch, event(f"view-{start}")])
    token = await ads.access_token()

    answer = await ads.diagnostics(token, "DAILY")

    (bucket,) = answer.body["datasources"][0]["timeseries"]
    expected = {"ADDTOCART": 100 - lost, "VIEW": 4}
    assert _counts(bucket) == {name: n for name, n in expected.items() if n}
    stats = sandbox.state.stats()
    assert (stats.events_accepted, stats.ads_events_lost) == (104, lost)


async def test_a_lost_event_sent_again_is_a_new_event(
    post: Post, ads: AdsClient, sandbox: SandboxServer
) -> None:
    sandbox.configure(ads_diagnostics_loss={"PURCHASE": 0.5})
    await _accepted(post, [event("p1", "PURCHASE"), event("p2", "PURCHASE")])  # p2 is lost
    sandbox.configure(ads_diagnostics_loss={})
    await _accepted(post, [event("p1", "PURCHASE"), event("p2", "PURCHASE")])  # p2 counts now
    token = await ads.access_token()

    answer = await ads.diagnostics(token, "HOURLY")

    assert [_counts(b) for b in answer.body["datasources"][0]["timeseries"]] == [{"PURCHASE": 2}]


async def test_history_keeps_seven_days_of_hours_and_ninety_days(
    post: Post, ads: AdsClient, clock: FakeClock
) -> None:
    await _accepted(post, [event("old")])  # in the hour of 2026-01-23T12:00Z

    async def buckets_at(moment: str, granularity: str) -> int:
        clock.set(moment)
        token = await ads.access_token()  # tokens expire on this clock too
        answer = await ads.diagnostics(token, granularity)
        return len(answer.body["datasources"][0]["timeseries"])

    last_hour, gone_hour = "2026-01-30T11:59:59.999Z", "2026-01-30T12:00:00.000Z"
    assert await buckets_at(last_hour, "HOURLY") == 1  # the 168th hour from that one
    assert await buckets_at(gone_hour, "HOURLY") == 0
    assert await buckets_at(gone_hour, "DAILY") == 1
    assert await buckets_at("2026-04-22T23:59:59.999Z", "DAILY") == 1  # its 90th day
    assert await buckets_at("2026-04-23T00:00:00.000Z", "DAILY") == 0


async def test_reset_forgets_the_counts(post: Post, ads: AdsClient, sandbox: SandboxServer) -> None:
    await _accepted(post, [event("a")])
    sandbox.state.reset()
    await _accepted(post, [event("a")])  # counted again: the counted ids were forgotten too
    answer = await ads.diagnostics(await ads.access_token(), "HOURLY")
    assert [_counts(b) for b in answer.body["datasources"][0]["timeseries"]] == [{"VIEW": 1}]
    assert sandbox.state.stats().ads_events_counted == 1
