"""Learned refusals against the sandbox: a field Spotify refuses is learned once per connection,
left out up front, probed after the TTL, and sent again once Spotify takes it back.

The sink runs on the wall clock here (the TTL must pass); every wait is for a state the sink
reaches, never a guess at how fast it gets there.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import FaultSettings, SandboxServer, SandboxSettings
from connector.sink import SendStatus, SinkItem, StrippedField
from tests.unit.sink.conftest import CONNECTION_ID, TOKEN, Harness

CLICK = "user_data.clickID"
EMAIL_HASH = hashlib.sha256(b"jane@example.com").hexdigest()


def wire(event_id: str, **user_data: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": "VIEW",
        "event_time": "2026-01-23T12:34:56.000Z",
        "user_data": {"hashed_emails": [EMAIL_HASH], **user_data},
    }


def clicked(prefix: str, count: int) -> list[SinkItem]:
    events = [wire(f"{prefix}-{n:04d}", clickID=f"spclid-{n}") for n in range(count)]
    return [
        SinkItem(ref=e["event_id"], event_id=e["event_id"], payload=orjson.dumps(e)) for e in events
    ]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
    settings = SandboxSettings(
        tokens=(SecretStr(TOKEN),),
        connection_ids=(CONNECTION_ID,),
        faults=FaultSettings(refuse_user_data_keys=("clickID",)),
        **getattr(request, "param", {}),
    )
    async with SandboxServer(settings) as server:
        yield server


@pytest.mark.parametrize(
    "sandbox", [{}, {"error_body": "detailed"}], ids=["error_response", "detailed"], indirect=True
)
async def test_a_field_refused_on_every_event_costs_one_refusal_a_batch_in_flight(
    sandbox: SandboxServer,
) -> None:
    h = Harness(sandbox.url, batch_size=100, max_in_flight=4, clock_ms=wall_ms)
    sent = clicked("every", 2000)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=30)
        stripped = h.sink.stripped_fields

    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert {o.removed_fields for o in h.outcomes} == {(CLICK,)}
    assert sandbox.state.accepted_ids() == {item.event_id: 1 for item in sent}
    assert all("clickID" not in (sandbox.state.body(i.event_id) or {})["user_data"] for i in sent)
    # The first answers name 100 events each: learned at once. Only batches already in flight
    # are refused, and each goes again whole: no bisection, no heal.
    statuses = sandbox.state.stats().requests_by_status
    assert statuses["200"] == 20
    assert 1 <= statuses["400"] <= 4
    assert {o.attempts for o in h.outcomes} <= {1, 2}
    assert [(f.connection, f.path) for f in stripped] == [("default", CLICK)]
    assert sum(events for _, events in h.observer.stripped) == 2000
    assert h.observer.removed_fields == []  # nothing was healed


async def test_with_learning_off_every_event_is_healed_on_its_own(sandbox: SandboxServer) -> None:
    h = Harness(sandbox.url, batch_size=8, learn_refusals=False)
    async with h.sink:
        h.add(clicked("off", 16))
        assert await h.sink.flush(timeout=30)
        assert h.sink.stripped_fields == ()

    assert {o.removed_fields for o in h.outcomes} == {(CLICK,)}
    assert h.observer.removed_fields == [CLICK] * 16
    assert h.observer.stripped == []
    # Each batch bisected down to lone events (15 refusals), then each event healed alone.
    assert sandbox.state.stats().requests_by_status == {"400": 2 * 15, "200": 16}


async def test_a_refused_probe_strips_the_field_for_another_ttl(sandbox: SandboxServer) -> None:
    h = Harness(sandbox.url, batch_size=5, learned_ttl_s=0.2, clock_ms=wall_ms)
    async with h.sink:
        h.add(clicked("first", 5))
        assert await h.sink.flush(timeout=30)
        (learned,) = h.sink.stripped_fields
        await asyncio.sleep(0.25)  # past the TTL: the next batch carrying clickID probes
        h.add(clicked("probe", 5))
        assert await h.sink.flush(timeout=30)
        assert h.sink.stripped_fields == (learned,)  # still stripped, since the first time
        h.add(clicked("after", 5))  # within the new TTL: stripped up front, no refusal
        assert await h.sink.flush(timeout=30)

    assert {o.removed_fields for o in h.outcomes} == {(CLICK,)}
    # first: refused, again without; probe: refused with clickID, again without; after: taken.
    assert sandbox.state.stats().requests_by_status == {"400": 2, "200": 3}
    attempts = {o.item.event_id.split("-")[0]: o.attempts for o in h.outcomes}
    assert attempts == {"first": 2, "probe": 2, "after": 1}


async def test_a_field_spotify_takes_again_is_sent_again_after_a_probe(
    sandbox: SandboxServer,
) -> None:
    h = Harness(sandbox.url, batch_size=5, learned_ttl_s=0.2, clock_ms=wall_ms)
    async with h.sink:
        h.add(clicked("refused", 5))
        assert await h.sink.flush(timeout=30)
        assert [f.path for f in h.sink.stripped_fields] == [CLICK]
        # Spotify takes clickID again 0.5 s from now; until then probes are refused.
        sandbox.configure(faults={"refuse_user_data_keys": ["clickID"], "refuse_for_s": 0.5})
        rounds = 0
        while h.sink.stripped_fields:  # each round: a batch, after the TTL it probes
            rounds += 1
            assert rounds < 300, "clickID was never sent again"
            h.add(clicked(f"r{rounds:03d}", 5))
            assert await h.sink.flush(timeout=30)
            await asyncio.sleep(0.05)
        h.add(clicked("later", 5))
        assert await h.sink.flush(timeout=30)

    by_round: dict[str, set[tuple[str, ...]]] = {}
    for outcome in h.outcomes:
        by_round.setdefault(outcome.item.event_id.rsplit("-", 1)[0], set()).add(
            outcome.removed_fields
        )
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    probed = f"r{rounds:03d}"
    assert by_round.pop(probed) == {()}  # the accepted probe went with clickID
    assert by_round.pop("later") == {()}  # and so does everything after it
    assert set(map(frozenset, by_round.values())) == {frozenset({(CLICK,)})}
    assert (sandbox.state.body(f"{probed}-0000") or {})["user_data"]["clickID"] == "spclid-0"
    assert (sandbox.state.body("later-0004") or {})["user_data"]["clickID"] == "spclid-4"


async def test_learning_is_per_connection_and_names_its_connection(
    sandbox: SandboxServer,
) -> None:
    # Two sinks (two connections) against one Spotify: only the one that was refused learns.
    refused = Harness(sandbox.url, batch_size=10, clock_ms=wall_ms)
    clean = Harness(sandbox.url, batch_size=10, clock_ms=wall_ms)
    async with refused.sink, clean.sink:
        refused.add(clicked("a", 10))
        assert await refused.sink.flush(timeout=30)
        events = [wire(f"b-{n}") for n in range(10)]
        clean.add([SinkItem(e["event_id"], e["event_id"], orjson.dumps(e)) for e in events])
        assert await clean.sink.flush(timeout=30)
        assert [f.path for f in refused.sink.stripped_fields] == [CLICK]
        assert clean.sink.stripped_fields == ()


async def test_stripped_fields_report_since_when(sandbox: SandboxServer) -> None:
    h = Harness(sandbox.url, batch_size=10, clock_ms=wall_ms)
    before = wall_ms()
    async with h.sink:
        h.add(clicked("since", 10))
        assert await h.sink.flush(timeout=30)
        (field,) = h.sink.stripped_fields
    assert isinstance(field, StrippedField)
    assert (field.connection, field.path) == ("default", CLICK)
    assert before <= field.since_ms <= wall_ms()
