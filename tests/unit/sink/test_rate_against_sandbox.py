"""The request-rate cap against the sandbox, which counts the requests of every second.

Retries and heal resends take tokens too: the sandbox refuses some requests (500) and one field
(clickID), and the harness's backoff sleeps do not wait, so only the cap spaces them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import FaultSettings, SandboxServer, SandboxSettings
from connector.sink import SendStatus, SinkItem
from tests.unit.sink.conftest import CONNECTION_ID, TOKEN, Harness

EMAIL_HASH = hashlib.sha256(b"jane@example.com").hexdigest()


def events(count: int, *, clicked_every: int = 0) -> list[SinkItem]:
    made = []
    for n in range(count):
        user_data: dict[str, Any] = {"hashed_emails": [EMAIL_HASH]}
        if clicked_every and n % clicked_every == 0:
            user_data["clickID"] = f"spclid-{n}"
        event_id = f"cap-{n:05d}"
        wire = {
            "event_id": event_id,
            "event_name": "VIEW",
            "event_time": "2026-01-23T12:34:56.000Z",
            "user_data": user_data,
        }
        made.append(SinkItem(ref=n, event_id=event_id, payload=orjson.dumps(wire)))
    return made


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    faults = FaultSettings(seed=3, share_500=0.2, refuse_user_data_keys=("clickID",))
    settings = SandboxSettings(
        tokens=(SecretStr(TOKEN),), connection_ids=(CONNECTION_ID,), faults=faults
    )
    async with SandboxServer(settings) as server:
        yield server


async def test_no_second_holds_more_requests_than_the_cap_allows(sandbox: SandboxServer) -> None:
    h = Harness(
        sandbox.url,
        batch_size=20,
        max_in_flight=16,
        max_attempts=30,
        max_requests_per_second=20,
        learn_refusals=False,  # healing resends too
    )
    sent = events(600, clicked_every=50)
    started = time.monotonic()
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=120)
    took_s = time.monotonic() - started

    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert sandbox.state.accepted_ids() == {item.event_id: 1 for item in sent}
    stats = sandbox.state.stats()
    statuses = stats.requests_by_status
    assert statuses["500"] > 0
    assert statuses["400"] > 0
    assert stats.busiest_second <= 21  # 20 a second, plus a burst of one
    # 30 batches at least, and every refusal and retry on top: never faster than the cap.
    assert took_s >= (stats.requests_total - 1) / 20
    assert sum(h.observer.rate_waits) > 0


async def test_without_a_cap_nothing_waits(sandbox: SandboxServer) -> None:
    sandbox.configure(faults={"share_500": 0, "refuse_user_data_keys": []})
    h = Harness(sandbox.url, batch_size=20, max_in_flight=16)
    async with h.sink:
        h.add(events(600))
        assert await h.sink.flush(timeout=60)
    assert sandbox.state.stats().requests_by_status == {"200": 30}
    assert h.observer.rate_waits == []
