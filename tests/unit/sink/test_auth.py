"""401/403: no outcome for the refused items, everything held, one slow prober, then resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from connector.sink import SendStatus
from tests.unit.sink.conftest import Harness, Reply, Request, ScriptedSpotify, items


class Gatekeeper:
    """Refuses every request with `status` until `open` is set."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.open = False

    def __call__(self, request: Request) -> Reply:
        del request
        return Reply() if self.open else Reply(self.status, body={"error": "invalid token"})


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_token_holds_everything_until_it_is_accepted(
    server: ScriptedSpotify, harness: Callable[..., Harness], status: int
) -> None:
    gate = Gatekeeper(status)
    server.respond = gate
    h = harness(batch_size=100, max_in_flight=4, auth_retry_interval_s=12.5, gate_sleep=True)
    assert h.sleep_gate is not None
    first = items(f"auth{status}", 150)
    later = items(f"late{status}", 30)
    async with h.sink:
        h.add(first)
        assert await h.sink.flush(timeout=5) is False  # nothing can move: held, not drained
        assert h.sink.auth_failing
        assert h.outcomes == []  # not the events' fault: no outcome, no dead letter
        assert h.sink.in_flight_events == 150
        assert h.observer.auth_states == [True]
        assert h.sleeps == [12.5]  # the prober waits its interval
        refused_so_far = len(server.requests)
        assert refused_so_far == 2  # both batches tried once, nothing since

        h.add(later)  # new work is held too, not sent
        assert await h.sink.flush(timeout=5) is False
        assert len(server.requests) == refused_so_far
        assert h.sink.in_flight_events == 180

        gate.open = True
        h.sleep_gate.set()  # the prober's interval ends
        for _ in range(500):
            if not h.sink.auth_failing:
                break
            await asyncio.sleep(0.01)
        assert await h.sink.flush(timeout=5)
        assert not h.sink.auth_failing

    assert h.observer.auth_states == [True, False]
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert len(h.outcomes) == 180
    assert h.observer.retries == []  # auth refusals are no retries and count no attempts
    # the held batches went first, in order, after the probe
    delivered_order = [e for r in server.requests[refused_so_far:] for e in r.event_ids]
    assert delivered_order == [i.event_id for i in [*first, *later]]


async def test_prober_keeps_trying_past_max_attempts(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.then(*[Reply(401)] * 6)  # then 200
    h = harness(batch_size=10, max_attempts=2, auth_retry_interval_s=3.0)
    async with h.sink:
        h.add(items("persist", 5))
        while h.sink.in_flight_events:
            await h.sink.flush(timeout=5)

    assert len(server.requests) == 7
    assert h.sleeps == [3.0] * 6  # one interval before each probe
    assert {(o.status, o.attempts) for o in h.outcomes} == {(SendStatus.DELIVERED, 7)}
    assert h.observer.auth_states == [True, False]


async def test_probe_answered_503_ends_the_auth_failure_and_retries_normally(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.then(Reply(403), Reply(503, headers={"Retry-After": "2"}))
    h = harness(batch_size=10, auth_retry_interval_s=1.0)
    async with h.sink:
        h.add(items("probe503", 3))
        while h.sink.in_flight_events:
            await h.sink.flush(timeout=5)

    assert h.sleeps == [1.0, 2.0]
    assert h.observer.auth_states == [True, False]
    assert h.observer.retries == ["http_503"]
    assert {(o.status, o.attempts) for o in h.outcomes} == {(SendStatus.DELIVERED, 3)}
