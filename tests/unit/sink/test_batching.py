"""Batching, linger, the wire format and the in-flight ceiling, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable

import aiohttp
import orjson
import pytest

from connector.errors import ConfigError
from connector.sink import SendStatus, SpotifySink
from tests.unit.sink.conftest import (
    CONNECTION_ID,
    NOW_MS,
    TOKEN,
    Harness,
    Reply,
    ScriptedSpotify,
    item,
    items,
)


async def test_250_items_go_as_100_100_50_and_are_all_delivered(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.respond = lambda _: Reply(body={"message": "SUCCESS", "sp_trace_id": "trace-ok"})
    h = harness(batch_size=100, max_in_flight=1)
    sent = items("batch", 250)
    async with h.sink:
        h.add(sent)
        assert h.sink.in_flight_events == 250
        assert await h.sink.flush(timeout=10)
        assert h.sink.in_flight_events == 0

    assert server.sizes() == [100, 100, 50]
    assert [e for r in server.requests for e in r.event_ids] == [i.event_id for i in sent]
    assert h.calls == [100, 100, 50]  # one callback per finished request
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert {(o.http_status, o.attempts, o.sp_trace_id) for o in h.outcomes} == {
        (200, 1, "trace-ok")
    }
    assert {o.acknowledged_at_ms for o in h.outcomes} == {NOW_MS}
    assert [o.item for o in h.outcomes] == sent  # the caller's refs come back as they went
    assert h.observer.requests == [(200, 100), (200, 100), (200, 50)]


async def test_request_carries_headers_and_the_wrapped_event_bytes(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    h = harness(batch_size=10)
    sent = [item("wire-1", event_details={"amount": 9.5}), item("wire-2")]
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=5)

    (request,) = server.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {
        "conversion_events": {
            "capi_connection_id": CONNECTION_ID,
            "events": [orjson.loads(one.payload) for one in sent],
        }
    }


async def test_partial_batch_leaves_after_linger_without_flush(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    h = harness(batch_size=100, linger_ms=80)
    loop = asyncio.get_running_loop()
    async with h.sink:
        added_at = loop.time()
        h.add(items("linger", 5))
        await asyncio.sleep(0.02)
        assert server.requests == []  # still lingering
        for _ in range(200):
            if len(h.outcomes) == 5:
                break
            await asyncio.sleep(0.01)

    assert server.sizes() == [5]
    assert server.requests[0].at - added_at >= 0.075
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}


async def test_in_flight_requests_never_exceed_max_in_flight(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.respond = lambda _: Reply(delay=0.1)
    h = harness(batch_size=5, max_in_flight=3)
    async with h.sink:
        h.add(items("ceiling", 40))
        assert await h.sink.flush(timeout=10)

    assert len(server.requests) == 8
    assert server.max_concurrent == 3  # reached, never passed
    assert len(h.outcomes) == 40


async def test_flush_with_nothing_added_is_drained_at_once(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    h = harness()
    async with h.sink:
        assert await h.sink.flush(timeout=1)
    assert server.requests == []


async def test_flush_times_out_while_spotify_is_slow(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.respond = lambda _: Reply(delay=0.2)
    h = harness(batch_size=10, exactly_once=False)
    async with h.sink:
        h.add(items("slow", 3))
        assert await h.sink.flush(timeout=0.05) is False
        assert h.sink.in_flight_events == 3
        assert await h.sink.flush(timeout=5)
    assert len(h.outcomes) == 3
    h.check_exactly_once()


async def test_add_before_open_is_refused(harness: Callable[..., Harness]) -> None:
    h = harness(exactly_once=False)
    with pytest.raises(RuntimeError, match="async with"):
        h.sink.add(item("early"))


def test_missing_token_or_connection_is_a_config_error(server: ScriptedSpotify) -> None:
    h = Harness(server.url)
    with pytest.raises(ConfigError, match="token"):
        SpotifySink(h.spotify.model_copy(update={"token": None}), h.settings, h.record)
    with pytest.raises(ConfigError, match="connection_id"):
        SpotifySink(h.spotify.model_copy(update={"connection_id": ""}), h.settings, h.record)


async def test_a_body_over_one_mebibyte_is_sent_whole_with_its_length(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    h = harness(batch_size=3)
    sent = [item(f"big-{n}", padding="x" * 500_000) for n in range(3)]
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=10)

    (request,) = server.requests
    assert request.event_ids == ["big-0", "big-1", "big-2"]
    assert int(request.headers["Content-Length"]) > 1_500_000
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}


async def test_trace_configs_see_every_request(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    started: list[str] = []

    async def on_start(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        del session, context
        started.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    h = harness(batch_size=2)
    sink = SpotifySink(h.spotify, h.settings, h.record, trace_configs=[trace])
    async with sink:
        for one in items("traced", 5):
            h.added.append(one)
            sink.add(one)
        assert await sink.flush(timeout=5)
    assert started == ["POST", "POST", "POST"]
    assert server.sizes() == [2, 2, 1]
