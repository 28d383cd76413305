"""Fault injection over real HTTP: shares, Retry-After, rate limit, outages, drops, latency."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest

from capi_devtools.sandbox import DEFAULT_TOKEN, SandboxServer
from capi_devtools.sandbox.faults import RateLimiter
from tests.unit.sandbox.conftest import Post, envelope, good_event

HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


async def _send(
    session: aiohttp.ClientSession, sandbox: SandboxServer, n: int, prefix: str = "e"
) -> list[int | str]:
    """Send n one-event requests one after the other; the status of each, or 'error'."""
    statuses: list[int | str] = []
    for i in range(n):
        body = envelope([good_event(f"{prefix}-{i}")])
        try:
            async with session.post(sandbox.url, json=body, headers=HEADERS) as response:
                await response.read()
                statuses.append(response.status)
        except aiohttp.ClientError:
            statuses.append("error")
    return statuses


@pytest.mark.parametrize(
    ("share", "outcome"),
    [("share_429", 429), ("share_500", 500), ("share_503", 503), ("share_drop", "error")],
)
async def test_share_of_injected_faults_is_near_the_setting(
    sandbox: SandboxServer, session: aiohttp.ClientSession, share: str, outcome: int | str
) -> None:
    sandbox.configure(faults={share: 0.3, "seed": 20261128, "retry_after_s": 0})

    statuses = await _send(session, sandbox, 400)

    counts = Counter(statuses)
    assert set(counts) == {200, outcome}
    assert 120 - 30 <= counts[outcome] <= 120 + 30  # 3 standard deviations of Binomial(400, 0.3)
    # A faulted request records nothing: exactly the answered-200 ids were accepted.
    accepted = {f"e-{i}" for i, status in enumerate(statuses) if status == 200}
    assert set(sandbox.state.accepted_ids()) == accepted
    stats = sandbox.state.stats()
    assert (
        stats.requests_by_status["dropped" if outcome == "error" else str(outcome)]
        == counts[outcome]
    )


async def test_shares_together_and_the_same_seed_repeats_the_same_sequence(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    faults = {"share_429": 0.1, "share_500": 0.1, "share_503": 0.1, "seed": 5, "retry_after_s": 0}
    sandbox.configure(faults=faults)
    first = await _send(session, sandbox, 60, "a")
    sandbox.configure(faults=faults)  # configuring faults restarts the seeded sequence
    second = await _send(session, sandbox, 60, "b")

    assert first == second
    assert {429, 500, 503, 200} <= set(first)


@pytest.mark.parametrize(("share", "status"), [("share_429", 429), ("share_503", 503)])
async def test_retry_after_is_sent_as_configured(
    sandbox: SandboxServer, post: Post, share: str, status: int
) -> None:
    sandbox.configure(faults={share: 1.0, "retry_after_s": 7})
    answer = await post(envelope([good_event()]))
    assert answer.status == status
    assert answer.headers["Retry-After"] == "7"
    assert answer.body["sp_trace_id"]

    sandbox.configure(faults={share: 1.0, "retry_after_s": None})
    assert "Retry-After" not in (await post(envelope([good_event()]))).headers


async def test_injected_500_has_no_retry_after(sandbox: SandboxServer, post: Post) -> None:
    sandbox.configure(faults={"share_500": 1.0})
    answer = await post(envelope([good_event()]))
    assert (answer.status, answer.body["error_codes"]) == (500, ["INTERNAL_ERROR"])
    assert "Retry-After" not in answer.headers


async def test_dropped_connection_is_a_client_error(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(faults={"share_drop": 1.0})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.post(sandbox.url, json=envelope([good_event()]), headers=HEADERS):
            pass
    assert sandbox.state.stats().requests_by_status == {"dropped": 1}
    assert sandbox.state.accepted_ids() == {}


async def test_requests_above_the_rate_limit_get_429(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(faults={"rps_limit": 20, "retry_after_s": 1})

    started = time.monotonic()
    statuses = await _send(session, sandbox, 60)
    elapsed = time.monotonic() - started

    counts = Counter(statuses)
    # A burst of one second's worth, plus what refilled while sending; the rest is refused.
    assert 20 <= counts[200] <= 20 + elapsed * 20 + 1
    assert counts[429] == 60 - counts[200]
    await asyncio.sleep(0.2)  # four more tokens
    assert await _send(session, sandbox, 1, "later") == [200]


def test_rate_limiter_refills_at_the_configured_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0])
    assert [limiter.allow() for _ in range(3)] == [True, True, False]
    now[0] += 0.5
    assert [limiter.allow() for _ in range(2)] == [True, False]


async def test_refuse_outage_closes_the_port_until_it_ends(sandbox: SandboxServer) -> None:
    await sandbox.start_outage(1.0, "refuse")
    started = time.monotonic()

    for _ in range(2):  # at once, and again well inside the window
        async with aiohttp.ClientSession() as fresh:
            with pytest.raises(aiohttp.ClientConnectorError):
                await fresh.post(sandbox.url, json=envelope([good_event()]), headers=HEADERS)
        await asyncio.sleep(0.25)
    assert time.monotonic() - started < 1.0  # both attempts fell inside the window

    await asyncio.sleep(1.0 - (time.monotonic() - started) + 0.15)
    async with (
        aiohttp.ClientSession() as fresh,
        fresh.post(sandbox.url, json=envelope([good_event("after")]), headers=HEADERS) as response,
    ):
        assert response.status == 200
    assert sandbox.state.accepted_ids() == {"after": 1}


async def test_refuse_outage_drops_requests_on_kept_alive_connections(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    assert await _send(session, sandbox, 1, "before") == [200]  # the session keeps a connection
    await sandbox.start_outage(5, "refuse")
    assert await _send(session, sandbox, 1, "during") == ["error"]
    await sandbox.end_outage()
    assert await _send(session, sandbox, 1, "after") == [200]
    assert set(sandbox.state.accepted_ids()) == {"before-0", "after-0"}


async def test_503_outage_answers_503_with_the_remaining_time(
    sandbox: SandboxServer, post: Post
) -> None:
    await sandbox.start_outage(0.8, "503")
    answer = await post(envelope([good_event()]))
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"  # under 0.8 s left, rounded up to whole seconds
    await asyncio.sleep(0.9)
    assert (await post(envelope([good_event()]))).status == 200


@pytest.mark.parametrize(
    ("faults", "at_least_s"),
    [
        ({"latency_ms": 150}, 0.15),
        ({"latency_ms": 150, "latency_jitter_ms": 50, "latency_distribution": "uniform"}, 0.1),
        ({"latency_ms": 150, "latency_jitter_ms": 10, "latency_distribution": "normal"}, 0.1),
    ],
)
async def test_latency_is_added(
    sandbox: SandboxServer, post: Post, faults: dict[str, object], at_least_s: float
) -> None:
    sandbox.configure(faults={**faults, "seed": 3})
    for _ in range(3):
        started = time.monotonic()
        answer = await post(envelope([good_event()]))
        assert answer.status == 200
        assert time.monotonic() - started >= at_least_s


def test_shares_over_one_are_refused(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="at most 1"):
        sandbox.configure(faults={"share_500": 0.6, "share_503": 0.5})


async def test_a_field_refused_for_a_while_is_accepted_again(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(faults={"refuse_user_data_keys": ["clickID"], "refuse_for_s": 0.3})
    clicked = good_event("c-0")
    clicked["user_data"]["clickID"] = "spclid-0"
    async with session.post(sandbox.url, json=envelope([clicked]), headers=HEADERS) as response:
        assert response.status == 400
        assert (await response.json())["error_codes"] == ["REFUSED"]
    await asyncio.sleep(0.3)  # `refuse_for_s` counts from when the faults were set
    clicked["event_id"] = "c-1"
    async with session.post(sandbox.url, json=envelope([clicked]), headers=HEADERS) as response:
        assert response.status == 200
    assert sandbox.state.body("c-1")["user_data"]["clickID"] == "spclid-0"  # type: ignore[index]
    sandbox.configure(faults={"refuse_for_s": None})  # a new fault section: refused again
    clicked["event_id"] = "c-2"
    async with session.post(sandbox.url, json=envelope([clicked]), headers=HEADERS) as response:
        assert response.status == 400


async def test_stats_count_the_busiest_second_of_arrivals(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(faults={"share_500": 0.5, "seed": 1})
    statuses = await _send(session, sandbox, 30)
    by_second = sandbox.state.requests_by_second()
    assert sum(by_second.values()) == 30  # every arrival, answered 200 or not
    assert 500 in statuses
    assert sandbox.state.stats().busiest_second == max(by_second.values())
    assert sandbox.state.stats().to_wire()["busiest_second"] == max(by_second.values())
    sandbox.state.reset()
    assert sandbox.state.requests_by_second() == {}
