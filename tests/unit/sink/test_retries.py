"""429/5xx/timeouts/dropped connections: same batch again, after the right wait, within limits."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from connector.sink import SendStatus
from tests.unit.sink.conftest import NOW_MS, Harness, Reply, ScriptedSpotify, items


async def test_429_retry_after_seconds_is_honoured_and_the_same_batch_resent(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.then(Reply(429, body="slow down", headers={"Retry-After": "7"}))
    h = harness(batch_size=10, max_in_flight=4)
    async with h.sink:
        h.add(items("r429", 10))
        assert await h.sink.flush(timeout=5)
        assert h.sink.in_flight_limit == 2  # halved by the 429

    assert h.sleeps == [7.0]
    # The observer hears the in-flight requests and the limit: 4 at the start, 2 after the 429.
    assert h.observer.in_flight[0] == (0, 4)
    assert (1, 4) in h.observer.in_flight
    assert h.observer.in_flight[-1] == (0, 2)
    first, second = server.requests
    assert first.body == second.body  # same bytes, same event_ids
    assert h.observer.retries == ["http_429"]
    assert {(o.status, o.attempts, o.http_status) for o in h.outcomes} == {
        (SendStatus.DELIVERED, 2, 200)
    }


async def test_503_retry_after_http_date_is_honoured(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    when = datetime.fromtimestamp(NOW_MS / 1000 + 30, tz=UTC)
    server.then(Reply(503, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    h = harness(batch_size=10)
    async with h.sink:
        h.add(items("r503", 3))
        assert await h.sink.flush(timeout=5)

    assert h.sleeps == [30.0]
    assert h.observer.retries == ["http_503"]
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}


async def test_5xx_backoff_is_full_jitter_within_exponential_bounds(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.then(Reply(500), Reply(502), Reply(500), Reply(504))
    h = harness(batch_size=10, backoff_initial_s=1.0, backoff_max_s=5.0, seed=42)
    async with h.sink:
        h.add(items("jitter", 2))
        assert await h.sink.flush(timeout=5)

    ceilings = [1.0, 2.0, 4.0, 5.0]
    expected = random.Random(42)
    assert h.sleeps == [expected.uniform(0.0, ceiling) for ceiling in ceilings]
    assert all(0.0 <= s <= c for s, c in zip(h.sleeps, ceilings, strict=True))
    assert h.observer.retries == ["http_500", "http_502", "http_500", "http_504"]
    assert {(o.status, o.attempts) for o in h.outcomes} == {(SendStatus.DELIVERED, 5)}


async def test_retry_exhausted_after_max_attempts(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.respond = lambda _: Reply(502, body="bad gateway", headers={"sp-trace-id": "t-502"})
    h = harness(batch_size=10, max_attempts=3)
    async with h.sink:
        h.add(items("exhaust", 4))
        assert await h.sink.flush(timeout=5)

    assert len(server.requests) == 3
    assert len(h.sleeps) == 2
    assert {
        (o.status, o.error_code, o.http_status, o.attempts, o.error_message, o.sp_trace_id)
        for o in h.outcomes
    } == {(SendStatus.RETRY_EXHAUSTED, "retry_exhausted", 502, 3, "HTTP 502: bad gateway", "t-502")}


async def test_timeout_is_retried(server: ScriptedSpotify, harness: Callable[..., Harness]) -> None:
    server.then(Reply(delay=1.0))
    h = harness(batch_size=10, request_timeout_s=0.1)
    async with h.sink:
        h.add(items("timeout", 3))
        assert await h.sink.flush(timeout=5)

    assert len(server.requests) == 2
    assert h.observer.retries == ["timeout"]
    assert h.observer.requests == [(None, 3), (200, 3)]
    assert {(o.status, o.attempts) for o in h.outcomes} == {(SendStatus.DELIVERED, 2)}


async def test_dropped_connection_is_retried(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.then(Reply(drop=True), Reply(drop=True))
    h = harness(batch_size=10)
    async with h.sink:
        h.add(items("drop", 3))
        assert await h.sink.flush(timeout=5)

    assert len(server.requests) == 3
    assert h.observer.retries == ["connection", "connection"]
    assert {(o.status, o.attempts) for o in h.outcomes} == {(SendStatus.DELIVERED, 3)}


async def test_refused_connection_ends_in_retry_exhausted_with_the_cause(
    harness: Callable[..., Harness],
) -> None:
    h = harness(url="http://127.0.0.1:9/capi-direct/events/", batch_size=10, max_attempts=2)
    async with h.sink:
        h.add(items("refused", 2))
        assert await h.sink.flush(timeout=5)

    assert {(o.status, o.http_status, o.attempts) for o in h.outcomes} == {
        (SendStatus.RETRY_EXHAUSTED, None, 2)
    }
    assert all("ClientConnectorError" in (o.error_message or "") for o in h.outcomes)


async def test_other_4xx_is_rejected_without_retry(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.then(Reply(422, body={"messages": ["bad"], "sp_trace_id": "t-422"}))
    h = harness(batch_size=10)
    async with h.sink:
        h.add(items("r422", 4))
        assert await h.sink.flush(timeout=5)

    assert len(server.requests) == 1
    assert h.sleeps == []
    assert {
        (o.status, o.error_code, o.http_status, o.attempts, o.sp_trace_id) for o in h.outcomes
    } == {(SendStatus.REJECTED, "spotify_422", 422, 1, "t-422")}
    assert {o.error_message for o in h.outcomes} == {'{"messages":["bad"],"sp_trace_id":"t-422"}'}


async def test_429_storm_lowers_the_limit_once_then_success_raises_it(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    # Four requests in flight all get 429: the limit halves once (8 → 4), not four times.
    server.then(*[Reply(429, delay=0.05)] * 4)
    h = harness(batch_size=1, max_in_flight=8)
    async with h.sink:
        h.add(items("storm", 4))
        assert await h.sink.flush(timeout=5)
        assert h.sink.in_flight_limit == 5  # four successes in a row at limit 4: +1
    assert h.observer.retries == ["http_429"] * 4
    assert len(h.outcomes) == 4


async def test_a_long_answer_is_trimmed_to_about_1000_characters(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.then(Reply(404, body="x" * 5000))
    h = harness(batch_size=10)
    async with h.sink:
        h.add(items("long", 1))
        assert await h.sink.flush(timeout=5)

    (outcome,) = h.outcomes
    assert outcome.error_code == "spotify_404"
    assert outcome.error_message == "x" * 999 + "…"
