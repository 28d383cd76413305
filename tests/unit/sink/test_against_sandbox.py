"""The sink against the project's Spotify sandbox (capi_devtools.sandbox) on loopback.

The scripted server proves each rule; these prove the rules meet a strict emulator: the body
passes its validation, its 400/413/401 shapes drive the sink as intended, and what it recorded
as accepted is, event id by event id, what the sink reported DELIVERED.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator

import orjson
import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import FaultSettings, SandboxServer, SandboxSettings
from connector.sink import SendStatus, SinkItem
from tests.unit.sink.conftest import CONNECTION_ID, TOKEN, Harness

EMAIL_HASH = hashlib.sha256(b"jane@example.com").hexdigest()


def event(event_id: str, event_name: str = "PURCHASE") -> SinkItem:
    wire = {
        "event_id": event_id,
        "event_name": event_name,
        "event_time": "2026-01-23T12:34:56.000Z",
        "action_source": "WEB",
        "opt_out_targeting": True,
        "user_data": {"hashed_emails": [EMAIL_HASH], "ip_address": "203.0.113.12"},
        "event_details": {"amount": 10.5, "currency": "USD"},
    }
    return SinkItem(ref=event_id, event_id=event_id, payload=orjson.dumps(wire))


def events(prefix: str, count: int) -> list[SinkItem]:
    return [event(f"{prefix}-{n:04d}") for n in range(count)]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    settings = SandboxSettings(tokens=(SecretStr(TOKEN),), connection_ids=(CONNECTION_ID,))
    async with SandboxServer(settings) as server:
        yield server


async def test_sandbox_accepts_exactly_what_the_sink_reports_delivered(
    sandbox: SandboxServer,
) -> None:
    h = Harness(sandbox.url, batch_size=100, max_in_flight=2)
    sent = events("sbx", 250)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=10)

    h.check_exactly_once()
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert sandbox.state.accepted_ids() == {one.event_id: 1 for one in sent}
    assert all(o.sp_trace_id for o in h.outcomes)  # the sandbox's sp-trace-id header


async def test_invalid_events_are_bisected_out_and_rejected_by_event_id(
    sandbox: SandboxServer,
) -> None:
    sent = events("sbx-bad", 60)
    bad_ids = {"sbx-bad-0007", "sbx-bad-0042"}
    sent = [event(one.event_id, "NOT_AN_EVENT") if one.event_id in bad_ids else one for one in sent]
    h = Harness(sandbox.url, batch_size=60)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=10)

    h.check_exactly_once()
    rejected = {o.item.event_id: o for o in h.outcomes if o.status is SendStatus.REJECTED}
    assert set(rejected) == bad_ids
    assert {(o.http_status, o.error_code) for o in rejected.values()} == {(400, "spotify_400")}
    assert all("event_name" in (o.error_message or "") for o in rejected.values())
    assert set(sandbox.state.accepted_ids()) == {one.event_id for one in sent} - bad_ids


async def test_too_many_events_per_request_lowers_the_batch_size(sandbox: SandboxServer) -> None:
    sandbox.configure(max_events_per_request=30)
    h = Harness(sandbox.url, batch_size=100, max_in_flight=1)
    sent = events("sbx-413", 100)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=10)
        assert h.sink.batch_size == 25

    h.check_exactly_once()
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert set(sandbox.state.accepted_ids()) == {one.event_id for one in sent}


async def test_unknown_token_holds_the_events_until_the_sandbox_knows_it(
    sandbox: SandboxServer,
) -> None:
    sandbox.configure(tokens=["another-token"])
    h = Harness(sandbox.url, batch_size=50, auth_retry_interval_s=0.01, gate_sleep=True)
    assert h.sleep_gate is not None
    sent = events("sbx-401", 80)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=5) is False
        assert h.sink.auth_failing
        assert h.outcomes == []
        sandbox.configure(tokens=["another-token", TOKEN])
        h.sleep_gate.set()
        for _ in range(500):
            if not h.sink.auth_failing:
                break
            await asyncio.sleep(0.01)
        assert await h.sink.flush(timeout=5)

    h.check_exactly_once()
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert set(sandbox.state.accepted_ids()) == {one.event_id for one in sent}


async def test_injected_faults_are_retried_until_everything_is_accepted_once(
    sandbox: SandboxServer,
) -> None:
    faults = FaultSettings(seed=5, share_429=0.15, share_500=0.15, share_503=0.1, share_drop=0.1)
    sandbox.configure(faults=faults.model_dump())
    h = Harness(sandbox.url, batch_size=10, max_in_flight=4, max_attempts=30)
    sent = events("sbx-fault", 200)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=20)

    h.check_exactly_once()
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert sandbox.state.accepted_ids() == {one.event_id: 1 for one in sent}
    # Every failed answer the sandbox gave was retried once, with a (faked) wait each.
    by_status = sandbox.state.stats().requests_by_status
    failed = {"429": "http_429", "500": "http_500", "503": "http_503", "dropped": "connection"}
    expected = Counter({cause: by_status.get(key, 0) for key, cause in failed.items()})
    assert Counter(h.observer.retries) == +expected
    assert len(h.sleeps) == sum(expected.values()) > 10
    assert by_status["200"] == len(h.observer.requests) - len(h.sleeps)
