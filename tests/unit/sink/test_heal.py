"""Healing, the pure part: which fields a 400 names, what the next payload is, and when to stop."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.sink.heal import (
    CONTRACT_PATHS,
    MAX_NAMED_STEPS,
    Healing,
    Step,
    named_event_fields,
    named_fields,
    next_step,
    reduced,
    removal_warnings,
)

HASH = "a" * 64


def full_event(**changes: Any) -> dict[str, Any]:
    """An event with every contract field set."""
    event: dict[str, Any] = {
        "event_id": "evt-1",
        "event_name": "PURCHASE",
        "event_time": "2026-01-23T12:34:56.000Z",
        "action_source": "WEB",
        "opt_out_targeting": True,
        "event_source_url": "https://shop.example/thanks",
        "user_data": {
            "ip_address": "203.0.113.12",
            "device_id": "device-1",
            "hashed_emails": [HASH],
            "hashed_phone_number": HASH,
            "user_agent": "Mozilla/5.0",
            "gender": "MALE",
            "clickID": "spclid-1",
            "cookie1": "ck-1",
        },
        "event_details": {
            "amount": 10.5,
            "currency": "USD",
            "content_name": "Shoes",
            "content_category": "187",
        },
    }
    event.update(changes)
    return event


def step(event: dict[str, Any], named: tuple[str, ...], healing: Healing | None = None) -> Step:
    result = next_step(orjson.dumps(event), named, healing or Healing("first"))
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        # the sandbox's detailed form
        (
            {"errors": [{"index": 0, "field": "user_data.clickID", "code": "REFUSED"}]},
            ("user_data.clickID",),
        ),
        (
            {"errors": [{"field": "user_data.hashed_emails[0]"}, {"field": "user_data.gender"}]},
            ("user_data.hashed_emails", "user_data.gender"),
        ),
        # the Ads API's ErrorResponse: texts, read for contract names only
        (
            {
                "sp_trace_id": "t",
                "messages": ["events[0].event_details.content_category: not a taxonomy id"],
                "error_codes": ["INVALID_REQUEST"],
            },
            ("event_details.content_category",),
        ),
        ({"messages": ["Invalid clickID"], "error_codes": []}, ("user_data.clickID",)),
        ({"messages": ["content_category must be an id"]}, ("event_details.content_category",)),
        # ordinary words are not taken for the fields that share their name
        ({"messages": ["the amount of currency is wrong for this gender"]}, ()),
        ({"messages": ["invalid event"], "error_codes": ["INVALID_ARGUMENT"]}, ()),
        ({"messages": ["user_data.amount", "Event_id", "clickid"]}, ()),
        ({"errors": [{"field": "conversion_events.capi_connection_id"}]}, ()),
        # shapes that are not an error body
        ("user_data.clickID", ()),
        ({"messages": "user_data.clickID"}, ()),
        ({"errors": [{"field": 7}, "user_data.clickID"]}, ()),
        (None, ()),
    ],
)
def test_named_fields_reads_only_contract_names(body: Any, fields: tuple[str, ...]) -> None:
    assert named_fields(body) == fields


@pytest.mark.parametrize(
    ("body", "pairs"),
    [
        (  # the sandbox's ErrorResponse: one message a problem
            {
                "messages": [
                    "events[0].user_data.clickID: clickID is not accepted",
                    "events[12].user_data.clickID: clickID is not accepted",
                    "events[12].event_details.amount: amount must be a number",
                ]
            },
            ((0, "user_data.clickID"), (12, "user_data.clickID"), (12, "event_details.amount")),
        ),
        (  # the detailed form: index and field; a bare leaf stands for its path
            {
                "errors": [
                    {"index": 3, "field": "user_data.gender"},
                    {"index": 4, "field": "clickID"},
                ]
            },
            ((3, "user_data.gender"), (4, "user_data.clickID")),
        ),
        # no index, an envelope problem, a name that is no contract path, a bad index
        ({"messages": ["user_data.clickID: refused"]}, ()),
        ({"errors": [{"index": None, "field": "conversion_events.events"}]}, ()),
        ({"messages": ["events[1].user_data.nickname: unknown"]}, ()),
        ({"errors": [{"index": -1, "field": "user_data.clickID"}]}, ()),
        ({"errors": [{"index": True, "field": "user_data.clickID"}]}, ()),
        ("events[0].user_data.clickID", ()),
    ],
)
def test_named_event_fields_ties_a_field_to_its_event(
    body: Any, pairs: tuple[tuple[int, str], ...]
) -> None:
    assert named_event_fields(body) == pairs


def test_a_named_field_is_removed_and_nothing_else() -> None:
    event = full_event()
    healed = step(event, ("user_data.clickID",))

    expected = full_event()
    del expected["user_data"]["clickID"]
    assert orjson.loads(healed.payload) == expected
    assert healed.healing == Healing("first", removed=("user_data.clickID",), named_steps=1)
    assert removal_warnings(healed.healing.removed) == ("spotify_400_removed:user_data.clickID",)


def test_several_named_fields_go_in_one_step_and_an_emptied_event_details_goes_too() -> None:
    event = full_event(event_name="VIEW", event_details={"content_category": "Shoes"})
    healed = step(event, ("event_details.content_category", "user_data.gender"))

    wire = orjson.loads(healed.payload)
    assert "event_details" not in wire
    assert "gender" not in wire["user_data"]
    assert healed.healing.removed == ("event_details.content_category", "user_data.gender")


def test_without_a_named_field_the_event_is_reduced_to_the_documented_fields() -> None:
    healed = step(full_event(), ())

    assert orjson.loads(healed.payload) == {
        "event_id": "evt-1",
        "event_name": "PURCHASE",
        "event_time": "2026-01-23T12:34:56.000Z",
        "action_source": "WEB",
        "opt_out_targeting": True,
        "event_source_url": "https://shop.example/thanks",
        "user_data": {
            "ip_address": "203.0.113.12",
            "device_id": "device-1",
            "hashed_emails": [HASH],
            "hashed_phone_number": HASH,
        },
        "event_details": {
            "amount": 10.5,
            "currency": "USD",
            "content_name": "Shoes",
            "content_category": "187",
        },
    }
    assert healed.healing.removed == (
        "user_data.user_agent",
        "user_data.gender",
        "user_data.clickID",
        "user_data.cookie1",
    )
    assert healed.healing.reduced


def test_a_named_field_the_event_does_not_hold_leads_to_the_reduction() -> None:
    healed = step(full_event(), ("user_data.session_id",))
    assert healed.healing.reduced
    assert "user_data.session_id" not in healed.healing.removed


def test_the_steps_are_bounded_named_removals_then_one_reduction_then_none() -> None:
    event = full_event()
    named = iter(["user_data.clickID", "user_data.cookie1", "user_data.gender"])
    healing = Healing("first")
    payloads = []
    while (
        healed := next_step(orjson.dumps(event), (next(named, "user_data.gender"),), healing)
    ) is not None:
        event, healing = orjson.loads(healed.payload), healed.healing
        payloads.append(event)

    assert len(payloads) == MAX_NAMED_STEPS + 1 == 3
    assert healing.removed == (
        "user_data.clickID",
        "user_data.cookie1",
        "user_data.user_agent",  # the reduction: what was left beyond the documented fields
        "user_data.gender",
    )
    assert (healing.named_steps, healing.reduced) == (2, True)


def test_nothing_to_remove_means_no_step() -> None:
    documented_only, _ = reduced(full_event())
    assert next_step(orjson.dumps(documented_only), (), Healing("first")) is None


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (full_event(), ("event_time",)),
        (full_event(), ("event_id",)),
        (full_event(), ("event_name", "user_data.clickID")),
        (full_event(), ("user_data",)),
        (full_event(), ("event_details.amount",)),  # a PURCHASE needs amount and currency
        (full_event(), ("event_details",)),
        # the last identifier
        (
            full_event(user_data={"ip_address": "203.0.113.12", "clickID": "c"}),
            ("user_data.ip_address",),
        ),
        (
            full_event(user_data={"device_id": "d", "hashed_emails": [HASH]}),
            ("user_data.device_id", "user_data.hashed_emails"),
        ),
    ],
)
def test_a_required_field_named_means_no_healing(
    event: dict[str, Any], named: tuple[str, ...]
) -> None:
    assert next_step(orjson.dumps(event), named, Healing("first")) is None


def test_an_optional_event_details_field_of_a_view_may_go() -> None:
    healed = step(full_event(event_name="VIEW"), ("event_details.amount",))
    assert "amount" not in orjson.loads(healed.payload)["event_details"]


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1]", b'{"user_data": 3}', b'{"user_data": {}, "event_details": []}']
)
def test_payloads_not_built_by_the_transform_are_left_alone(payload: bytes) -> None:
    assert next_step(payload, (), Healing("first")) is None


def test_the_dead_letter_message_holds_both_answers() -> None:
    healing = Healing('{"messages":["first"]}', removed=("user_data.clickID",), named_steps=1)
    assert healing.refused('{"messages":["second"]}') == (
        '{"messages":["first"]} | sent again without user_data.clickID: {"messages":["second"]}'
    )
    assert Healing("only").refused("last") == "last"


# --- never more than the original, same event id -------------------------------------------------

_text = st.text(max_size=8)
_leaf_values = st.one_of(
    _text, st.integers(-(2**53), 2**53), st.booleans(), st.lists(_text, max_size=2)
)
_user_keys = sorted(p.partition(".")[2] for p in CONTRACT_PATHS if p.startswith("user_data."))
_detail_keys = sorted(p.partition(".")[2] for p in CONTRACT_PATHS if p.startswith("event_details."))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    user_data = draw(st.dictionaries(st.sampled_from([*_user_keys, "foreign"]), _leaf_values))
    user_data[draw(st.sampled_from(["ip_address", "device_id"]))] = draw(st.text(min_size=1))
    event: dict[str, Any] = {
        "event_id": draw(st.text(min_size=1)),
        "event_name": draw(st.sampled_from(["PURCHASE", "VIEW"])),
        "event_time": "2026-01-23T12:34:56.000Z",
        "user_data": user_data,
    }
    event.update(
        draw(
            st.dictionaries(st.sampled_from(["action_source", "event_source_url", "extra"]), _text)
        )
    )
    if draw(st.booleans()):
        event["event_details"] = draw(
            st.dictionaries(st.sampled_from([*_detail_keys, "foreign"]), _leaf_values)
        )
    return event


def _within(small: Any, big: Any) -> bool:
    """Every key of `small` is in `big` with the same value, or (for objects) a part of it."""
    if isinstance(small, dict) and isinstance(big, dict):
        return all(key in big and _within(value, big[key]) for key, value in small.items())
    return bool(small == big)


@given(events(), st.lists(st.sampled_from(sorted(CONTRACT_PATHS)), max_size=3))
def test_a_healed_event_never_holds_more_than_the_original(
    event: dict[str, Any], named: list[str]
) -> None:
    healing = Healing("first")
    payload = orjson.dumps(event)
    for _ in range(MAX_NAMED_STEPS + 2):
        healed = next_step(payload, tuple(named), healing)
        if healed is None:
            break
        wire = orjson.loads(healed.payload)
        assert _within(wire, event)
        assert wire != orjson.loads(payload)  # every step removes something
        assert wire["event_id"] == event["event_id"]
        assert {"event_id", "event_name", "event_time", "user_data"} <= set(wire)
        assert any(
            wire["user_data"].get(k)
            for k in ("ip_address", "device_id", "hashed_emails", "hashed_phone_number")
        )
        assert all(
            path in CONTRACT_PATHS or path.endswith("(unknown)") for path in healed.healing.removed
        )
        payload, healing = healed.payload, healed.healing
    else:
        pytest.fail("healing did not stop within its bound")
