"""Healing in the sink: a lone 400 is sent again with less, or dead-lettered with both answers;
`heal_rejected: false` dead-letters at once. Against the sandbox, and the bound against a
scripted Spotify that never stops refusing."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import FaultSettings, SandboxServer, SandboxSettings
from connector.sink import SendStatus, SinkItem
from tests.unit.sink.conftest import CONNECTION_ID, TOKEN, Harness, Reply, ScriptedSpotify

EMAIL_HASH = hashlib.sha256(b"jane@example.com").hexdigest()
REMOVED_CLICK_ID = ("user_data.clickID",)


def wire(event_id: str, **user_data: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": "PURCHASE",
        "event_time": "2026-01-23T12:34:56.000Z",
        "action_source": "WEB",
        "user_data": {"hashed_emails": [EMAIL_HASH], "ip_address": "203.0.113.12", **user_data},
        "event_details": {"amount": 10.5, "currency": "USD", "content_category": "187"},
    }


def item(event: dict[str, Any]) -> SinkItem:
    return SinkItem(ref=event["event_id"], event_id=event["event_id"], payload=orjson.dumps(event))


def sandbox_settings(**changes: Any) -> SandboxSettings:
    return SandboxSettings(tokens=(SecretStr(TOKEN),), connection_ids=(CONNECTION_ID,), **changes)


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
    changes = getattr(request, "param", {})
    async with SandboxServer(sandbox_settings(**changes)) as server:
        yield server


REFUSE_CLICK_ID = {"faults": FaultSettings(refuse_user_data_keys=("clickID",))}


@pytest.mark.parametrize(
    "sandbox",
    [REFUSE_CLICK_ID, {**REFUSE_CLICK_ID, "error_body": "detailed"}],
    ids=["error_response", "detailed"],
    indirect=True,
)
async def test_events_with_a_refused_field_are_delivered_without_it(
    sandbox: SandboxServer,
) -> None:
    sent = [
        wire(f"heal-{n:02d}", **({"clickID": f"spclid-{n}"} if n % 4 == 0 else {}))
        for n in range(20)
    ]
    # Healing alone: learning would strip clickID from the whole batch at its first answer
    # (tests/unit/sink/test_learned_against_sandbox.py).
    h = Harness(sandbox.url, batch_size=20, learn_refusals=False)
    async with h.sink:
        h.add([item(event) for event in sent])
        assert await h.sink.flush(timeout=10)

    clicked = {event["event_id"] for event in sent if "clickID" in event["user_data"]}
    assert len(clicked) == 5
    outcomes = h.by_id()
    assert {o.status for o in outcomes.values()} == {SendStatus.DELIVERED}
    assert {e for e, o in outcomes.items() if o.removed_fields == REMOVED_CLICK_ID} == clicked
    assert {o.removed_fields for e, o in outcomes.items() if e not in clicked} == {()}
    assert h.observer.removed_fields == ["user_data.clickID"] * 5
    # Spotify took each event once, same id, with nothing but clickID missing.
    assert sandbox.state.accepted_ids() == {event["event_id"]: 1 for event in sent}
    for event in sent:
        expected = {
            **event,
            "user_data": {k: v for k, v in event["user_data"].items() if k != "clickID"},
        }
        assert sandbox.state.body(event["event_id"]) == expected
    # A healed event: its lone 400, then the request without clickID (attempts counts both).
    assert {outcomes[e].attempts for e in clicked} == {2}


@pytest.mark.parametrize("sandbox", [{"detailed_errors": False}], indirect=True)
async def test_an_event_still_refused_when_reduced_is_dead_lettered_with_both_answers(
    sandbox: SandboxServer,
) -> None:
    # A bare 400 names nothing: the event is reduced (user_agent goes), and refused again for
    # its event_source_url, which the reduction keeps.
    bad = {**wire("heal-refused", user_agent="Mozilla/5.0"), "event_source_url": "ftp://shop"}
    h = Harness(sandbox.url, batch_size=1)
    async with h.sink:
        h.add([item(bad)])
        assert await h.sink.flush(timeout=10)

    (outcome,) = h.outcomes
    assert (outcome.status, outcome.http_status, outcome.error_code, outcome.removed_fields) == (
        SendStatus.REJECTED,
        400,
        "spotify_400",
        (),
    )
    assert outcome.error_message is not None
    first, second = outcome.error_message.split(" | sent again without user_data.user_agent: ")
    answers = [orjson.loads(first), orjson.loads(second)]
    assert [{k: v for k, v in a.items() if k != "sp_trace_id"} for a in answers] == [
        {"messages": ["invalid request"], "error_codes": ["INVALID_REQUEST"]}
    ] * 2
    assert answers[0]["sp_trace_id"] != answers[1]["sp_trace_id"] == outcome.sp_trace_id
    assert sandbox.state.stats().requests_by_status == {"400": 2}
    assert h.observer.removed_fields == []


@pytest.mark.parametrize("sandbox", [REFUSE_CLICK_ID], indirect=True)
async def test_a_refused_required_field_is_dead_lettered_at_once(sandbox: SandboxServer) -> None:
    late = {**wire("heal-future", clickID="spclid-1"), "event_time": "2999-01-01T00:00:00.000Z"}
    h = Harness(sandbox.url, batch_size=1)
    async with h.sink:
        h.add([item(late)])
        assert await h.sink.flush(timeout=10)

    (outcome,) = h.outcomes
    assert outcome.status is SendStatus.REJECTED
    message = orjson.loads(outcome.error_message or "")
    assert message["error_codes"] == ["IN_FUTURE", "REFUSED"]  # one answer: nothing was resent
    assert sandbox.state.stats().requests_by_status == {"400": 1}


@pytest.mark.parametrize("sandbox", [REFUSE_CLICK_ID], indirect=True)
async def test_with_healing_off_the_event_is_dead_lettered_at_once(sandbox: SandboxServer) -> None:
    h = Harness(sandbox.url, batch_size=2, heal_rejected=False)
    async with h.sink:
        h.add([item(wire("plain")), item(wire("clicked", clickID="spclid-1"))])
        assert await h.sink.flush(timeout=10)

    outcomes = h.by_id()
    assert outcomes["plain"].status is SendStatus.DELIVERED
    refused = outcomes["clicked"]
    assert (refused.status, refused.error_code, refused.attempts) == (
        SendStatus.REJECTED,
        "spotify_400",
        1,
    )
    assert orjson.loads(refused.error_message or "")["messages"] == [
        "events[0].user_data.clickID: clickID is not accepted"
    ]
    assert sandbox.state.accepted_ids() == {"plain": 1}
    assert h.observer.removed_fields == []


async def test_healing_stops_after_two_named_removals_and_one_reduction(
    server: ScriptedSpotify, harness: Callable[..., Harness]
) -> None:
    named = iter(["clickID", "cookie1", "gender", "gender"])
    server.respond = lambda _: Reply(400, body={"messages": [f"{next(named)} refused"]})
    event = wire("bounded", clickID="c", cookie1="k", gender="MALE", user_agent="UA")
    h = harness(batch_size=1)
    async with h.sink:
        h.add([item(event)])
        assert await h.sink.flush(timeout=10)

    sent_user_data = [
        r.body["conversion_events"]["events"][0]["user_data"] for r in server.requests
    ]
    assert [sorted(set(u) - {"hashed_emails", "ip_address"}) for u in sent_user_data] == [
        ["clickID", "cookie1", "gender", "user_agent"],
        ["cookie1", "gender", "user_agent"],
        ["gender", "user_agent"],
        [],  # reduced to the documented fields
    ]
    (outcome,) = h.outcomes
    assert outcome.status is SendStatus.REJECTED
    assert outcome.error_message == (
        '{"messages":["clickID refused"]} | sent again without user_data.clickID, '
        'user_data.cookie1, user_data.gender, user_data.user_agent: {"messages":["gender refused"]}'
    )
    assert outcome.attempts == 4
