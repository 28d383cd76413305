"""Hypothesis: any property bag ends Accepted or Rejected; accepted wire JSON obeys the contract;
raw emails and phones never leak into messages, warnings or logs."""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.config import SPOTIFY_EVENT_NAMES, TransformSettings
from connector.models import Accepted, PropertyValue, Rejected, SourceCoordinates, TrackingEvent
from connector.transform import Transformer
from connector.transform.mapping import ALL_PROPERTIES, IDENTIFIER_FIELDS
from connector.transform.normalize import iso_currency_codes
from tests.unit.transform.support import NOW_MS

EVENT_KEYS = {
    "event_id",
    "event_name",
    "event_time",
    "action_source",
    "opt_out_targeting",
    "event_source_url",
    "user_data",
    "event_details",
}
USER_KEYS = {
    "ip_address",
    "hashed_emails",
    "device_id",
    "hashed_phone_number",
    "user_agent",
    "gender",
    "request_ip_address",
    "event_ip_address",
    "platform_id",
    "session_id",
    "alias_id",
    "cookie1",
    "page_id",
    "connection_type",
    "age_group",
    "clickID",
}
DETAIL_KEYS = {"amount", "currency", "content_name", "content_category"}
HASH = re.compile(r"[0-9a-f]{64}")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
NOW_TEXT = "2026-01-23T12:34:56.000Z"

LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SAMPLES = st.sampled_from(
    [
        "jane.doe@example.com",
        "a@b.c, d@e.f",
        "+14155552671",
        "(415) 555-2671",
        "+44 20 7946 0958",
        "203.0.113.12",
        "2001:db8::1",
        "2026-01-23T10:00:00+02:00",
        "2026-01-23T10:00:00",
        "1769162400000",
        "PURCHASE",
        "add to cart",
        "USD",
        "eur",
        "19.99",
        "-1",
        "NaN",
        "true",
        "web",
        "https://shop.example/x",
        "m",
        "female",
        "A" * 64,
        "",
        " ",
    ]
)
VALUES: st.SearchStrategy[PropertyValue] = st.one_of(
    st.none(),
    st.booleans(),
    LONG,
    st.integers(min_value=1_600_000_000, max_value=1_800_000_000),
    st.integers(min_value=1_600_000_000_000, max_value=1_800_000_000_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    SAMPLES,
    st.lists(st.one_of(st.text(max_size=20), SAMPLES), max_size=4),
)
TEXT = st.text(max_size=30)
GOOD: dict[str, st.SearchStrategy[PropertyValue]] = {
    "spotify_event_name": st.sampled_from([*sorted(SPOTIFY_EVENT_NAMES), "purchase", "sign up"]),
    "$action_source": st.sampled_from(["WEB", "app", "Offline"]),
    "opt_out_targeting": st.sampled_from([True, False, "true", "FALSE", 0, 1]),
    "event_source_url": st.sampled_from(["https://shop.example/a?b=c", "http://x.example"]),
    "$event_id": st.one_of(TEXT, LONG),
    "$event_time": st.one_of(
        st.integers(min_value=NOW_MS - 10**9, max_value=NOW_MS + 10**6),
        st.integers(min_value=(NOW_MS - 10**9) // 1000, max_value=NOW_MS // 1000),
        st.sampled_from(["2026-01-23T10:00:00+02:00", "2026-01-22T23:59:59.5-05:30"]),
    ),
    "email": st.one_of(st.emails().map(str), st.lists(st.emails().map(str), max_size=3)),
    "phone": st.sampled_from(["+14155552671", "(415) 555-2671", "+44 20 7946 0958", "030 1234567"]),
    "$ip": st.one_of(st.ip_addresses().map(str), SAMPLES),
    "request_ip_address": st.ip_addresses().map(str),
    "event_ip_address": st.ip_addresses().map(str),
    "$device_id": TEXT,
    "gender": st.sampled_from(["m", "F", "female", "other"]),
    "amount": st.one_of(st.floats(min_value=0, max_value=1e9), st.integers(0, 10**6)),
    "currency": st.sampled_from(["USD", "eur", "JPY", "XXX", "ABC"]),
}


def _mostly(good: st.SearchStrategy[PropertyValue]) -> st.SearchStrategy[PropertyValue]:
    """`good` about 4 times in 5, else any allowed value (one_of alone drifts to the rich side)."""
    return st.tuples(st.integers(0, 4), good, VALUES).map(lambda t: t[2] if t[0] == 4 else t[1])


PLAUSIBLE = {key: _mostly(GOOD.get(key, TEXT)) for key in ALL_PROPERTIES}
# Mostly plausible bags (so many events are accepted and their wire JSON is checked), with any
# allowed Avro value mixed in for every key, and some keys the table does not know.
BAGS = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries({}, optional=PLAUSIBLE),
    st.dictionaries(st.text(max_size=10), VALUES, max_size=3),
)
NAMES = st.one_of(
    st.sampled_from(sorted(SPOTIFY_EVENT_NAMES)),
    st.sampled_from(sorted(SPOTIFY_EVENT_NAMES)),
    st.sampled_from(["Order Completed", "add to cart", "view", "page"]),
    st.text(max_size=20),
)
SETTINGS = st.builds(
    TransformSettings,
    event_name_mapping=st.just({"Order Completed": "PURCHASE"}),
    default_phone_region=st.sampled_from(["US", "GB", "DE", "JP", "BR"]),
    phone_format=st.sampled_from(["e164", "e164_digits"]),
    max_event_age_s=st.one_of(st.none(), st.just(86_400.0)),
)
TRANSFORMERS = SETTINGS.map(Transformer)


def check_wire(wire: dict[str, Any]) -> None:
    """The contract's rules, strictly."""
    assert set(wire) <= EVENT_KEYS
    assert isinstance(wire["event_id"], str)
    assert wire["event_id"].strip()
    assert wire["event_name"] in SPOTIFY_EVENT_NAMES
    assert TIME.fullmatch(wire["event_time"])
    assert wire["event_time"] <= NOW_TEXT  # in the past (same format sorts as text)
    if "action_source" in wire:
        assert wire["action_source"] in {"WEB", "APP", "OFFLINE"}
    assert isinstance(wire["opt_out_targeting"], bool)
    if "event_source_url" in wire:
        url = wire["event_source_url"]
        assert url.startswith(("http://", "https://"))
        assert not any(c.isspace() for c in url)
    check_user_data(wire["user_data"])
    details = wire.get("event_details")
    if details is not None:
        check_details(details)
    if wire["event_name"] == "PURCHASE":
        assert details is not None
        assert "amount" in details
        assert "currency" in details
    orjson.dumps(wire)  # serialisable as is


def check_user_data(user: dict[str, Any]) -> None:
    assert set(user) <= USER_KEYS
    assert set(IDENTIFIER_FIELDS) & set(user)
    for name in ("ip_address", "request_ip_address", "event_ip_address"):
        if name in user:
            ipaddress.ip_address(user[name])
    if "hashed_emails" in user:
        emails = user["hashed_emails"]
        assert emails
        assert len(set(emails)) == len(emails)
        assert all(HASH.fullmatch(h) for h in emails)
    if "hashed_phone_number" in user:
        assert HASH.fullmatch(user["hashed_phone_number"])
    if "gender" in user:
        assert user["gender"] in {"MALE", "FEMALE"}
    for name in USER_KEYS - {"hashed_emails"}:
        if name in user:
            assert isinstance(user[name], str)
            assert user[name].strip() == user[name] != ""


def check_details(details: dict[str, Any]) -> None:
    assert details
    assert set(details) <= DETAIL_KEYS
    if "amount" in details:
        assert isinstance(details["amount"], float)
        assert math.isfinite(details["amount"])
        assert details["amount"] >= 0
    if "currency" in details:
        assert details["currency"] in iso_currency_codes()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    transformer=TRANSFORMERS,
    name=NAMES,
    props=BAGS,
    timestamps=st.tuples(st.one_of(st.none(), LONG), st.one_of(st.none(), LONG)),
    offset=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_any_property_bag_is_accepted_or_rejected(
    transformer: Transformer,
    name: str,
    props: dict[str, PropertyValue],
    timestamps: tuple[int | None, int | None],
    offset: int,
) -> None:
    timestamp, kafka_ts = timestamps
    coordinates = SourceCoordinates("topic", 0, offset, timestamp_ms=kafka_ts)
    outcome = transformer.transform(TrackingEvent(name, props, timestamp), coordinates, NOW_MS)
    assert isinstance(outcome, Accepted | Rejected)
    if isinstance(outcome, Accepted):
        check_wire(outcome.event.to_wire())
    else:
        assert outcome.rejection.reason != "transform_error", outcome  # no bug hit the net
        assert outcome.event_id
        assert outcome.rejection.message


CANARY_EMAIL = "zq.canary+leak@canary-mail.example"
CANARY_PHONES = ["+1 415 555 0199", "(415) 555-0199", "4155550199", "+99 9999 canary", "555 0199 x"]
CANARY_BITS = ("canary", "zq.", "0199", "4155550199")


@settings(max_examples=200, deadline=None)
@given(
    transformer=TRANSFORMERS,
    name=NAMES,
    props=BAGS,
    email=st.sampled_from(
        [CANARY_EMAIL, CANARY_EMAIL.upper(), "zqcanary-no-at", [CANARY_EMAIL, "canary@"], 12]
    ),
    phone=st.sampled_from([*CANARY_PHONES, CANARY_PHONES]),
)
def test_raw_email_and_phone_never_appear_in_messages_warnings_or_logs(
    transformer: Transformer,
    name: str,
    props: dict[str, PropertyValue],
    email: PropertyValue,
    phone: PropertyValue,
) -> None:
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        bag = {**props, "email": email, "phone": phone}
        outcome = transformer.transform(
            TrackingEvent(name, bag), SourceCoordinates("t", 0, 0), NOW_MS
        )
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous)
    texts = [str(w) for w in outcome.warnings] + handler.lines
    if isinstance(outcome, Rejected):
        texts += [outcome.rejection.message, str(outcome.rejection.field), outcome.rejection.reason]
    for text in texts:
        for bit in CANARY_BITS:
            assert bit not in text.lower(), (bit, text)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ({"$ip": "canary@x", "email": "canary", "phone": "canary"}, "no_user_identifier"),
        ({"spotify_event_name": "canary"}, "invalid_event_name"),
        ({"$event_time": "canary"}, "invalid_event_time"),
        ({"$event_time": "2099-01-01T00:00:00Z+canary"}, "invalid_event_time"),
        ({"$ip": "1.2.3.4", "amount": "canary", "currency": "USD"}, "invalid_amount"),
        ({"$ip": "1.2.3.4", "amount": 1, "currency": "canary"}, "invalid_currency"),
    ],
)
def test_rejection_messages_do_not_quote_values(
    props: dict[str, PropertyValue], reason: str
) -> None:
    transformer = Transformer(TransformSettings())
    outcome = transformer.transform(
        TrackingEvent("PURCHASE", props), SourceCoordinates("t", 0, 0), NOW_MS
    )
    assert isinstance(outcome, Rejected)
    assert outcome.rejection.reason == reason
    assert "canary" not in outcome.rejection.message
