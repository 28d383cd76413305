"""A scripted Spotify on loopback, and a harness that runs a SpotifySink against it.

The server records every request and answers as the test programs it: a queue of replies
(`server.then(...)`), or a function of the request (`server.respond = ...`), else 200.
The harness records outcomes, sleeps (a fake sleep: no real waiting) and observer calls,
and checks at the end that every added item got exactly one outcome.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from connector.config import SinkSettings, SpotifySettings
from connector.sink import SendOutcome, SinkItem, SpotifySink

TOKEN = "tok-3f9a1c-SECRET-7e2b"  # a fake token, looked for in every text
CONNECTION_ID = "0b8e7a52-2f43-4c4e-9a51-5a1d3c0f6e11"
NOW_MS = 1_790_000_000_000  # the fake wall clock


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"message": "SUCCESS"})  # dict → JSON; str/bytes raw
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection without an answer


@dataclass(frozen=True)
class Request:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # loop time when it arrived

    @property
    def event_ids(self) -> list[str]:
        return [event["event_id"] for event in self.body["conversion_events"]["events"]]


class ScriptedSpotify:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: deque[Reply] = deque()
        self.respond: Callable[[Request], Reply] | None = None
        self.concurrent = 0
        self.max_concurrent = 0
        self.url = ""

    def then(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def sizes(self) -> list[int]:
        return [len(request.event_ids) for request in self.requests]

    async def handle(self, http: web.Request) -> web.StreamResponse:
        request = Request(
            body=orjson.loads(await http.read()),
            headers=dict(http.headers),
            at=asyncio.get_running_loop().time(),
        )
        self.requests.append(request)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            reply = self._next(request)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.drop:
                assert http.transport is not None
                http.transport.close()
                return web.Response(status=200)
            body = reply.body
            if isinstance(body, dict):
                body = orjson.dumps(body)
            return web.Response(status=reply.status, body=body, headers=reply.headers)
        finally:
            self.concurrent -= 1

    def _next(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        if self.respond is not None:
            return self.respond(request)
        return Reply()


@pytest.fixture
async def server() -> AsyncIterator[ScriptedSpotify]:
    spotify = ScriptedSpotify()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/capi-direct/events/", spotify.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    spotify.url = str(test_server.make_url("/capi-direct/events/"))
    yield spotify
    await test_server.close()


def item(event_id: str, **extra: Any) -> SinkItem:
    wire = {"event_id": event_id, "event_name": "PURCHASE", "user_data": {"ip_address": "1"}}
    wire.update(extra)
    return SinkItem(ref=("topic", 0, event_id), event_id=event_id, payload=orjson.dumps(wire))


def items(prefix: str, count: int) -> list[SinkItem]:
    return [item(f"{prefix}-{n:04d}") for n in range(count)]


class RecordingObserver:
    def __init__(self) -> None:
        self.requests: list[tuple[int | None, int]] = []
        self.retries: list[str] = []
        self.auth_states: list[bool] = []
        self.removed_fields: list[str] = []
        self.in_flight: list[tuple[int, int]] = []  # (requests, limit) as reported
        self.stripped: list[tuple[str, int]] = []  # (field, events) left without it, learned
        self.rate_waits: list[float] = []

    def on_request(self, status: int | None, events: int, seconds: float) -> None:
        assert seconds >= 0
        self.requests.append((status, events))

    def on_retry(self, cause: str) -> None:
        self.retries.append(cause)

    def on_auth_state(self, failing: bool) -> None:
        self.auth_states.append(failing)

    def on_field_removed(self, field: str) -> None:
        self.removed_fields.append(field)

    def on_in_flight(self, requests: int, limit: int) -> None:
        self.in_flight.append((requests, limit))

    def on_fields_stripped(self, field: str, events: int) -> None:
        self.stripped.append((field, events))

    def on_rate_wait(self, seconds: float) -> None:
        assert seconds >= 0
        self.rate_waits.append(seconds)


class Harness:
    """One sink against the scripted server, with everything it does recorded."""

    def __init__(self, server_url: str, **overrides: Any) -> None:
        spotify_keys = {"url", "request_timeout_s", "ca_bundle"}
        spotify_args: dict[str, Any] = {
            "url": server_url,  # unless overridden
            "token": SecretStr(TOKEN),
            "connection_id": CONNECTION_ID,
            "request_timeout_s": 5.0,
        }
        spotify_args.update({k: v for k, v in overrides.items() if k in spotify_keys})
        sink_args = {"linger_ms": 60_000, **overrides}
        for key in spotify_keys | {"seed", "gate_sleep", "clock_ms"}:
            sink_args.pop(key, None)
        self.spotify = SpotifySettings(**spotify_args)
        self.settings = SinkSettings(**sink_args)
        self.outcomes: list[SendOutcome] = []
        self.calls: list[int] = []  # outcomes per callback call
        self.sleeps: list[float] = []
        self.sleep_gate: asyncio.Event | None = (
            asyncio.Event() if overrides.get("gate_sleep") else None
        )
        self.observer = RecordingObserver()
        self.added: list[SinkItem] = []
        self.sink = SpotifySink(
            self.spotify,
            self.settings,
            self.record,
            observer=self.observer,
            rng=random.Random(overrides.get("seed", 7)),
            sleep=self.fake_sleep,
            clock_ms=overrides.get("clock_ms", lambda: NOW_MS),
        )

    def record(self, outcomes: Sequence[SendOutcome]) -> None:
        self.calls.append(len(outcomes))
        self.outcomes.extend(outcomes)

    async def fake_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.sleep_gate is not None:
            await self.sleep_gate.wait()
        await asyncio.sleep(0)

    def add(self, new: Sequence[SinkItem]) -> None:
        for one in new:
            self.added.append(one)
            self.sink.add(one)

    def by_id(self) -> dict[str, SendOutcome]:
        return {outcome.item.event_id: outcome for outcome in self.outcomes}

    def check_exactly_once(self) -> None:
        counts = Counter(outcome.item.event_id for outcome in self.outcomes)
        duplicated = sorted(event_id for event_id, n in counts.items() if n > 1)
        assert duplicated == []
        assert sorted(counts) == sorted(one.event_id for one in self.added)


@pytest.fixture
async def harness(server: ScriptedSpotify) -> AsyncIterator[Callable[..., Harness]]:
    """Builds started harnesses; on teardown closes them and checks one outcome per item."""
    made: list[Harness] = []
    exact: list[bool] = []

    def build(*, exactly_once: bool = True, **overrides: Any) -> Harness:
        one = Harness(server.url, **overrides)
        made.append(one)
        exact.append(exactly_once)
        return one

    yield build
    for one, check in zip(made, exact, strict=True):
        if check:
            one.check_exactly_once()
