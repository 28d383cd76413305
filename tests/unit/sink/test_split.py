"""400 → bisect until the bad events stand alone; 413 → halve and lower the batch size."""

from __future__ import annotations

from collections.abc import Callable

from connector.sink import SendStatus
from tests.unit.sink.conftest import Harness, Reply, Request, ScriptedSpotify, items


def reject_events(bad: set[str]) -> Callable[[Request], Reply]:
    def respond(request: Request) -> Reply:
        if bad & set(request.event_ids):
            return Reply(400, body={"messages": ["invalid event"], "sp_trace_id": "t-400"})
        return Reply()

    return respond


async def test_one_bad_event_of_100_is_found_and_the_99_others_delivered(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    sent = items("bisect1", 100)
    bad = sent[37].event_id
    server.respond = reject_events({bad})
    h = harness(batch_size=100, max_in_flight=4)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=10)

    outcomes = h.by_id()
    rejected = {e for e, o in outcomes.items() if o.status is SendStatus.REJECTED}
    assert rejected == {bad}
    assert sum(o.status is SendStatus.DELIVERED for o in outcomes.values()) == 99
    lone = outcomes[bad]
    assert (lone.http_status, lone.error_code, lone.attempts, lone.sp_trace_id) == (
        400,
        "spotify_400",
        1,
        "t-400",
    )
    assert lone.error_message == '{"messages":["invalid event"],"sp_trace_id":"t-400"}'
    # A bisection: the bad event's halves narrow 100 → 1; each level also sends a good half.
    refused = [len(r.event_ids) for r in server.requests if bad in r.event_ids]
    assert refused == [100, 50, 25, 13, 6, 3, 1]
    assert len(server.requests) == 1 + 2 * 6
    assert h.sleeps == []  # a split is no retry: nothing waits


async def test_three_bad_events_are_each_rejected_by_event_id(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    sent = items("bisect3", 100)
    bad = {sent[0].event_id, sent[50].event_id, sent[99].event_id}
    server.respond = reject_events(bad)
    h = harness(batch_size=100)
    async with h.sink:
        h.add(sent)
        assert await h.sink.flush(timeout=10)

    outcomes = h.by_id()
    assert {e for e, o in outcomes.items() if o.status is SendStatus.REJECTED} == bad
    assert {o.status for e, o in outcomes.items() if e not in bad} == {SendStatus.DELIVERED}
    # Every delivered event went in a request that Spotify accepted.
    accepted = {e for r in server.requests if not bad & set(r.event_ids) for e in r.event_ids}
    assert accepted == {one.event_id for one in sent} - bad


async def test_413_halves_the_batch_and_lowers_the_batch_size_for_later_batches(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    server.respond = lambda r: Reply(413, body="too large") if len(r.event_ids) > 30 else Reply()
    h = harness(batch_size=100, max_in_flight=1)  # one at a time: a predictable order
    async with h.sink:
        h.add(items("shrink", 100))
        assert await h.sink.flush(timeout=10)
        assert h.sink.batch_size == 25
        h.add(items("after", 60))
        assert await h.sink.flush(timeout=10)

    assert server.sizes() == [100, 50, 25, 25, 50, 25, 25, 25, 25, 10]
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert len(h.outcomes) == 160


async def test_a_single_event_answered_413_is_rejected_too_large(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    big = items("huge", 1)[0]
    server.respond = lambda r: (
        Reply(413, body="payload too large") if big.event_id in r.event_ids else Reply()
    )
    h = harness(batch_size=4)
    async with h.sink:
        h.add([*items("small", 3), big])
        assert await h.sink.flush(timeout=10)

    outcome = h.by_id()[big.event_id]
    assert (outcome.status, outcome.error_code, outcome.http_status, outcome.error_message) == (
        SendStatus.REJECTED,
        "too_large",
        413,
        "payload too large",
    )
    assert sum(o.status is SendStatus.DELIVERED for o in h.outcomes) == 3
    assert h.sink.batch_size == 1  # never below one
