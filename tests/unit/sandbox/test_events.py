"""POST /capi-direct/events/ over real HTTP: what is accepted, and one broken payload per rule."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from capi_devtools.sandbox import TRACE_ID_HEADER, SandboxServer, SandboxSettings
from connector.config import SPOTIFY_EVENT_NAMES
from tests.unit.sandbox.conftest import (
    BOTH_ERROR_BODIES,
    EMAIL_HASH,
    PHONE_HASH,
    Post,
    contract_example,
    envelope,
    good_event,
    problems,
)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def test_contract_example_is_accepted_and_recorded(
    post: Post, sandbox: SandboxServer
) -> None:
    answer = await post(contract_example())

    assert answer.status == 200
    assert answer.body == {"message": "SUCCESS"}
    assert len(answer.headers[TRACE_ID_HEADER]) == 32
    assert sandbox.state.accepted_ids() == {"order-0001": 1}
    assert sandbox.state.body("order-0001") == contract_example()["conversion_events"]["events"][0]


@pytest.mark.parametrize("name", sorted(SPOTIFY_EVENT_NAMES - {"PURCHASE"}))
async def test_every_event_name_is_accepted(post: Post, name: str) -> None:
    answer = await post(envelope([good_event(event_name=name)]))
    assert (answer.status, answer.body) == (200, {"message": "SUCCESS"})


@pytest.mark.parametrize(
    "user_data",
    [
        {"ip_address": "203.0.113.12"},
        {"device_id": "d-1"},
        {"hashed_emails": [EMAIL_HASH, PHONE_HASH]},
        {"hashed_phone_number": PHONE_HASH},
        {
            "ip_address": "2001:db8::1",
            "user_agent": "Mozilla/5.0",
            "gender": "FEMALE",
            "request_ip_address": "203.0.113.1",
            "event_ip_address": "203.0.113.2",
            "platform_id": "p",
            "session_id": "s",
            "alias_id": "a",
            "cookie1": "c",
            "page_id": "pg",
            "connection_type": "wifi",
            "age_group": "25-34",
            "clickID": "spclid-1",
        },
    ],
)
async def test_each_identifier_alone_and_every_user_data_key(
    post: Post, user_data: dict[str, Any]
) -> None:
    answer = await post(envelope([good_event(user_data=user_data)]))
    assert answer.status == 200


async def test_many_events_in_one_request_are_all_counted(
    post: Post, sandbox: SandboxServer
) -> None:
    events = [
        good_event(f"e-{n}", action_source=("WEB", "APP", "OFFLINE")[n % 3]) for n in range(50)
    ]
    answer = await post(envelope(events))
    assert answer.status == 200
    stats = sandbox.state.stats()
    assert (stats.events_accepted, stats.unique_event_ids) == (50, 50)


async def test_event_time_within_the_clock_skew_is_accepted(post: Post) -> None:
    soon = _iso(datetime.now(UTC) + timedelta(seconds=60))
    answer = await post(envelope([good_event(event_time=soon)]))
    assert answer.status == 200


def _set(path: str, value: Any) -> Any:
    """A mutation of the contract example: set `path` (dots) to `value`; `...` deletes it."""

    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = event
        for part in parents:
            target = target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = copy.deepcopy(value)

    return mutate


FUTURE = _iso(datetime.now(UTC) + timedelta(hours=1))

BROKEN = [
    # (name, mutation of the contract example's event, field reported, code reported)
    ("event_id missing", _set("event_id", ...), "event_id", "MISSING"),
    ("event_id empty", _set("event_id", ""), "event_id", "MISSING"),
    ("event_id not a string", _set("event_id", 17), "event_id", "MISSING"),
    ("event_name missing", _set("event_name", ...), "event_name", "MISSING"),
    ("event_name unknown", _set("event_name", "Purchase"), "event_name", "NOT_ALLOWED"),
    ("event_name a list", _set("event_name", ["VIEW"]), "event_name", "NOT_ALLOWED"),
    ("event_time missing", _set("event_time", ...), "event_time", "MISSING"),
    ("event_time no zone", _set("event_time", "2026-01-23T12:34:56.000"), "event_time", "BAD_TIME"),
    (
        "event_time offset",
        _set("event_time", "2026-01-23T12:34:56+01:00"),
        "event_time",
        "BAD_TIME",
    ),
    ("event_time epoch", _set("event_time", 1769171696000), "event_time", "BAD_TIME"),
    (
        "event_time no such day",
        _set("event_time", "2026-02-30T12:00:00Z"),
        "event_time",
        "BAD_TIME",
    ),
    ("event_time future", _set("event_time", FUTURE), "event_time", "IN_FUTURE"),
    ("action_source", _set("action_source", "EMAIL"), "action_source", "NOT_ALLOWED"),
    ("opt_out_targeting", _set("opt_out_targeting", "true"), "opt_out_targeting", "NOT_A_BOOLEAN"),
    ("url scheme", _set("event_source_url", "shop.example/x"), "event_source_url", "BAD_URL"),
    ("url not a string", _set("event_source_url", 5), "event_source_url", "BAD_URL"),
    ("user_data missing", _set("user_data", ...), "user_data", "MISSING"),
    ("user_data a list", _set("user_data", []), "user_data", "NOT_AN_OBJECT"),
    (
        "no identifier",
        _set("user_data", {"user_agent": "Mozilla/5.0"}),
        "user_data",
        "NO_IDENTIFIER",
    ),
    (
        "email hash upper case",
        _set("user_data.hashed_emails", [EMAIL_HASH.upper()]),
        "user_data.hashed_emails[0]",
        "NOT_A_HASH",
    ),
    (
        "email not hashed",
        _set("user_data.hashed_emails", [EMAIL_HASH, "jane@example.com"]),
        "user_data.hashed_emails[1]",
        "NOT_A_HASH",
    ),
    (
        "emails not a list",
        _set("user_data.hashed_emails", EMAIL_HASH),
        "user_data.hashed_emails",
        "NOT_A_LIST",
    ),
    ("emails empty", _set("user_data.hashed_emails", []), "user_data.hashed_emails", "NOT_A_LIST"),
    (
        "phone hash short",
        _set("user_data.hashed_phone_number", PHONE_HASH[:63]),
        "user_data.hashed_phone_number",
        "NOT_A_HASH",
    ),
    (
        "phone a list",
        _set("user_data.hashed_phone_number", [PHONE_HASH]),
        "user_data.hashed_phone_number",
        "NOT_A_HASH",
    ),
    ("gender", _set("user_data.gender", "M"), "user_data.gender", "NOT_ALLOWED"),
    ("ip not a string", _set("user_data.ip_address", 203), "user_data.ip_address", "NOT_A_STRING"),
    ("unknown user_data key", _set("user_data.email", "x"), "user_data.email", "UNKNOWN_FIELD"),
    ("unknown event key", _set("value", 10), "value", "UNKNOWN_FIELD"),
    (
        "unknown detail key",
        _set("event_details.price", 1),
        "event_details.price",
        "UNKNOWN_FIELD",
    ),
    ("details a list", _set("event_details", []), "event_details", "NOT_AN_OBJECT"),
    ("purchase without details", _set("event_details", ...), "event_details", "MISSING"),
    (
        "purchase without amount",
        _set("event_details.amount", ...),
        "event_details.amount",
        "MISSING",
    ),
    (
        "purchase without currency",
        _set("event_details.currency", ...),
        "event_details.currency",
        "MISSING",
    ),
    (
        "amount a string",
        _set("event_details.amount", "100.0"),
        "event_details.amount",
        "NOT_A_NUMBER",
    ),
    (
        "amount a boolean",
        _set("event_details.amount", True),
        "event_details.amount",
        "NOT_A_NUMBER",
    ),
    (
        "currency lower case",
        _set("event_details.currency", "usd"),
        "event_details.currency",
        "BAD_CURRENCY",
    ),
    (
        "currency unknown",
        _set("event_details.currency", "XYZ"),
        "event_details.currency",
        "BAD_CURRENCY",
    ),
    (
        "content_category empty",
        _set("event_details.content_category", ""),
        "event_details.content_category",
        "NOT_A_STRING",
    ),
    (
        "content_category free text",
        _set("event_details.content_category", "Shoes"),
        "event_details.content_category",
        "NOT_A_TAXONOMY_ID",
    ),
    (
        "content_category a taxonomy path",
        _set("event_details.content_category", "Apparel & Accessories > Shoes"),
        "event_details.content_category",
        "NOT_A_TAXONOMY_ID",
    ),
    (
        "content_name a number",
        _set("event_details.content_name", 3),
        "event_details.content_name",
        "NOT_A_STRING",
    ),
]


@BOTH_ERROR_BODIES
@pytest.mark.parametrize(
    ("mutate", "field", "code"),
    [pytest.param(m, f, c, id=name) for name, m, f, c in BROKEN],
)
async def test_each_broken_rule_is_a_400_naming_the_event_and_field(
    post: Post, sandbox: SandboxServer, mutate: Any, field: str, code: str
) -> None:
    payload = contract_example()
    events = payload["conversion_events"]["events"]
    events.insert(0, good_event("fine-0"))  # the broken one is at index 1
    mutate(events[1])

    answer = await post(payload)

    assert answer.status == 400
    assert (1, field, code) in problems(answer.body)
    assert {index for index, _, _ in problems(answer.body)} == {1}
    assert answer.body["sp_trace_id"] == answer.headers[TRACE_ID_HEADER]
    assert sandbox.state.stats().events_accepted == 0  # one bad event refuses the whole request


async def test_amount_and_currency_are_checked_on_other_events_too(post: Post) -> None:
    event = good_event(event_details={"amount": "ten", "currency": "EURO"})
    answer = await post(envelope([event]))
    assert answer.status == 400
    assert sorted(code for _, _, code in problems(answer.body)) == ["BAD_CURRENCY", "NOT_A_NUMBER"]


async def test_problems_never_quote_the_submitted_value(post: Post) -> None:
    answer = await post(envelope([good_event(user_data={"hashed_emails": ["jane@example.com"]})]))
    assert answer.status == 400
    assert b"jane@example.com" not in str(answer.body).encode()


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ([], "body", "NOT_AN_OBJECT"),
        ({"conversion_events": []}, "conversion_events", "MISSING"),
        ({"events": []}, "events", "UNKNOWN_FIELD"),
        (
            {"conversion_events": {"capi_connection_id": "", "events": [good_event()]}},
            "conversion_events.capi_connection_id",
            "MISSING",
        ),
        (envelope([]), "conversion_events.events", "MISSING"),
        (
            {"conversion_events": {**envelope([good_event()])["conversion_events"], "test": 1}},
            "conversion_events.test",
            "UNKNOWN_FIELD",
        ),
        (envelope(["not an object"]), "", "NOT_AN_OBJECT"),
    ],
)
async def test_broken_envelope_is_a_400(post: Post, payload: Any, field: str, code: str) -> None:
    answer = await post(payload)
    assert answer.status == 400
    assert (field, code) in [(field, code) for _, field, code in problems(answer.body)]


async def test_body_that_is_not_json_is_a_400(post: Post) -> None:
    answer = await post(None, raw=b"{not json")
    assert answer.status == 400
    assert problems(answer.body) == [(None, "body", "INVALID_JSON")]


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
async def test_missing_or_unknown_token_is_a_401_that_does_not_echo_it(
    post: Post, sandbox: SandboxServer, token: str | None
) -> None:
    answer = await post(contract_example(), token=token)
    assert answer.status == 401
    assert problems(answer.body) == [(None, "Authorization", "BAD_TOKEN")]
    assert "wrong-token" not in str(answer.body)
    assert answer.body["sp_trace_id"] == answer.headers[TRACE_ID_HEADER]
    assert sandbox.state.accepted_ids() == {}


async def test_unknown_connection_is_a_403(post: Post) -> None:
    answer = await post(envelope([good_event()], connection_id="0000-other"))
    assert answer.status == 403
    assert problems(answer.body) == [
        (None, "conversion_events.capi_connection_id", "UNKNOWN_CONNECTION")
    ]


@pytest.mark.parametrize(
    "settings",
    [
        SandboxSettings(
            tokens=("tok-a", "tok-b"),  # type: ignore[arg-type]
            connection_ids=("conn-a", "conn-b"),
            max_events_per_request=3,
            max_body_bytes=4096,
        )
    ],
)
async def test_configured_lists_of_tokens_and_connections(post: Post) -> None:
    assert (await post(envelope([good_event()], "conn-b"), token="tok-a")).status == 200
    assert (await post(envelope([good_event()], "conn-a"), token="tok-b")).status == 200
    assert (await post(envelope([good_event()], "conn-c"), token="tok-b")).status == 403


@pytest.mark.parametrize("settings", [SandboxSettings(max_events_per_request=3)])
async def test_more_events_than_the_maximum_is_a_413(post: Post) -> None:
    events = [good_event(f"e{n}") for n in range(4)]
    answer = await post(envelope(events))
    assert answer.status == 413
    assert problems(answer.body) == [(None, "conversion_events.events", "TOO_MANY_EVENTS")]
    assert (await post(envelope(events[:3]))).status == 200


async def test_default_maximum_is_1000_events(post: Post) -> None:
    events = [good_event(f"e{n}") for n in range(1001)]
    assert (await post(envelope(events))).status == 413
    assert (await post(envelope(events[:1000]))).status == 200


@pytest.mark.parametrize("settings", [SandboxSettings(max_body_bytes=2000)])
async def test_body_over_the_size_limit_is_a_413(post: Post, sandbox: SandboxServer) -> None:
    padded = good_event(user_data={"device_id": "x" * 2000})
    answer = await post(envelope([padded]))
    assert answer.status == 413
    assert problems(answer.body) == [(None, "body", "BODY_TOO_LARGE")]
    assert sandbox.state.stats().requests_by_status == {"413": 1}


async def test_default_size_limit_is_one_mebibyte(post: Post) -> None:
    padded = good_event(user_data={"device_id": "x" * (1024 * 1024)})
    assert (await post(envelope([padded]))).status == 413


@pytest.mark.parametrize("settings", [SandboxSettings(detailed_errors=False)])
async def test_without_detailed_errors_a_400_lists_nothing(post: Post) -> None:
    answer = await post(envelope([good_event(event_name="nope")]))
    assert answer.status == 400
    assert answer.body == {
        "sp_trace_id": answer.headers[TRACE_ID_HEADER],
        "messages": ["invalid request"],
        "error_codes": ["INVALID_REQUEST"],
    }
    assert problems(answer.body) == []


@pytest.mark.parametrize("settings", [SandboxSettings(max_event_age_s=3600)])
async def test_events_older_than_the_maximum_age_are_refused(post: Post) -> None:
    answer = await post(envelope([good_event()]))  # January 2026
    assert answer.status == 400
    assert problems(answer.body) == [(0, "event_time", "TOO_OLD")]
    recent = _iso(datetime.now(UTC) - timedelta(minutes=5))
    assert (await post(envelope([good_event(event_time=recent)]))).status == 200


@pytest.mark.parametrize("settings", [SandboxSettings(validation="light")])
async def test_light_validation_checks_only_the_envelope_and_ids(
    post: Post, sandbox: SandboxServer
) -> None:
    sloppy = {"event_id": "x-1", "event_name": "whatever"}
    assert (await post(envelope([sloppy, sloppy]))).status == 200
    assert sandbox.state.accepted_ids() == {"x-1": 2}
    answer = await post(envelope([{"event_name": "VIEW"}]))
    assert answer.status == 400
    assert problems(answer.body) == [(0, "event_id", "MISSING")]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/capi-direct/events", 404), ("GET", "/capi-direct/events/", 405)],
)
async def test_wrong_path_or_method_is_refused_with_a_trace_id(
    sandbox: SandboxServer, session: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    url = sandbox.url.replace("/capi-direct/events/", path)
    async with session.request(method, url, json=contract_example()) as response:
        assert response.status == status
        assert response.headers[TRACE_ID_HEADER]
    assert sandbox.state.accepted_ids() == {}
