"""Several connections behind one sink: each item goes out with its own connection's token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import orjson
import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import SandboxServer, SandboxSettings
from connector.config import SinkSettings, SpotifySettings
from connector.sink import SendOutcome, SendStatus, SinkItem, SpotifySink
from connector.sink.connections import ConnectionSinks

IDS = {
    "acme": "11111111-1111-4111-8111-111111111111",
    "globex": "22222222-2222-4222-8222-222222222222",
}


def item(event_id: str, connection: str) -> SinkItem:
    wire = {
        "event_id": event_id,
        "event_name": "PURCHASE",
        "event_time": "2026-01-23T12:34:56.000Z",
        "action_source": "WEB",
        "user_data": {"ip_address": "203.0.113.12"},
        "event_details": {"amount": 10.5, "currency": "USD"},
    }
    return SinkItem(event_id, event_id, orjson.dumps(wire), connection)


def sinks(url: str, outcomes: list[SendOutcome]) -> ConnectionSinks:
    def answer(batch: Sequence[SendOutcome]) -> None:
        outcomes.extend(batch)

    settings = SinkSettings(linger_ms=5, auth_retry_interval_s=0.05)
    return ConnectionSinks(
        {
            name: SpotifySink(
                SpotifySettings(url=url, token=SecretStr(f"{name}-token"), connection_id=cid),
                settings,
                answer,
                name=name,
            )
            for name, cid in IDS.items()
        }
    )


async def accepted_again(sink: ConnectionSinks) -> None:
    """The probers (every 0.05 s) see the tokens accepted; flush gives up while one is refused."""
    for _ in range(200):
        if not sink.failing_connections:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still refused: {sink.failing_connections}")


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    settings = SandboxSettings(
        tokens=(SecretStr("acme-token"), SecretStr("globex-token")),
        connection_ids=tuple(IDS.values()),
    )
    async with SandboxServer(settings) as server:
        yield server


async def test_a_refused_connection_holds_only_its_items(sandbox: SandboxServer) -> None:
    sandbox.configure(tokens=["acme-token"])
    outcomes: list[SendOutcome] = []
    sink = sinks(sandbox.url, outcomes)
    async with sink:
        for n in range(30):
            sink.add(item(f"a-{n}", "acme"))
            sink.add(item(f"g-{n}", "globex"))
        assert await sink.flush(timeout=5) is False  # globex's items wait for its token
        assert sink.failing_connections == ("globex",)
        assert not sink.auth_failing  # acme still sends: nothing to pause for
        assert {o.item.event_id for o in outcomes} == {f"a-{n}" for n in range(30)}

        sandbox.configure(tokens=["acme-token", "globex-token"])
        await accepted_again(sink)
        assert await sink.flush(timeout=5)
    assert {o.status for o in outcomes} == {SendStatus.DELIVERED}
    assert len(outcomes) == 60
    # Each went out in its own connection's envelope, exactly once.
    assert sandbox.state.accepted_ids(IDS["acme"]) == {f"a-{n}": 1 for n in range(30)}
    assert sandbox.state.accepted_ids(IDS["globex"]) == {f"g-{n}": 1 for n in range(30)}


async def test_when_every_connection_is_refused_the_sink_is_auth_failing(
    sandbox: SandboxServer,
) -> None:
    sandbox.configure(tokens=["neither"])
    outcomes: list[SendOutcome] = []
    sink = sinks(sandbox.url, outcomes)
    async with sink:
        sink.add(item("a-0", "acme"))
        sink.add(item("g-0", "globex"))
        assert await sink.flush(timeout=5) is False
        assert sink.auth_failing
        assert sink.failing_connections == ("acme", "globex")
        assert outcomes == []
        sandbox.configure(tokens=["acme-token", "globex-token"])
        await accepted_again(sink)
        assert await sink.flush(timeout=5)
    assert sorted(o.item.event_id for o in outcomes) == ["a-0", "g-0"]
