"""Strict checks of a Conversions API request body, as the contract describes them.

Every problem is collected (not only the first) so a 400 can list them all. Messages state the
rule that was broken and never quote the value. Where Spotify publishes nothing the sandbox
chooses, and says so here:
- `event_time` must end in `Z` (UTC); fractions of a second are optional, offsets refused.
- IP addresses, `device_id` and the other `user_data` strings are only checked to be strings.
- `content_category` must be a Google Product Taxonomy id as a string ("187"), as Spotify's
  guide says ("free-form strings are rejected with a 400 error"); see `taxonomy.py`.
- `refused_user_data` (the fault `refuse_user_data_keys`) refuses chosen `user_data` keys, as a
  Spotify that will not take a field would; it exercises the sink's healing.
- `amount` may be any finite number (refunds may be negative).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pycountry

from capi_devtools.sandbox.taxonomy import is_taxonomy_id, taxonomy_ids
from connector.config import SPOTIFY_EVENT_NAMES

ACTION_SOURCES = frozenset({"WEB", "APP", "OFFLINE"})
GENDERS = frozenset({"MALE", "FEMALE"})
CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
IDENTIFIERS = ("ip_address", "device_id", "hashed_emails", "hashed_phone_number")

EVENT_KEYS = frozenset(
    {
        "event_id",
        "event_name",
        "event_time",
        "action_source",
        "opt_out_targeting",
        "event_source_url",
        "user_data",
        "event_details",
    }
)
USER_DATA_STRINGS = frozenset(
    {
        "ip_address",
        "device_id",
        "user_agent",
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
)
USER_DATA_KEYS = USER_DATA_STRINGS | {"hashed_emails", "hashed_phone_number", "gender"}
EVENT_DETAILS_KEYS = frozenset({"amount", "currency", "content_name", "content_category"})

_HASH = re.compile(r"[0-9a-f]{64}")
_EVENT_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z")


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule. `index` is the event's place in `events`; None for the envelope."""

    index: int | None
    field: str
    code: str
    message: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Envelope:
    connection_id: str
    events: list[Any]


@dataclass(frozen=True, slots=True)
class TimeRules:
    now: float  # epoch seconds
    max_clock_skew_s: float
    max_event_age_s: float | None


def parse_envelope(payload: Any) -> Envelope | list[Problem]:
    """The wrapper object: `{"conversion_events": {"capi_connection_id", "events": [...]}}`."""
    if not isinstance(payload, dict):
        return [_envelope("body", "NOT_AN_OBJECT", "the body must be a JSON object")]
    problems = _unknown_keys(None, "", payload, frozenset({"conversion_events"}))
    wrapper = payload.get("conversion_events")
    if not isinstance(wrapper, dict):
        problems.append(
            _envelope("conversion_events", "MISSING", "conversion_events must be an object")
        )
        return problems
    allowed = frozenset({"capi_connection_id", "events"})
    problems += _unknown_keys(None, "conversion_events.", wrapper, allowed)
    connection_id = wrapper.get("capi_connection_id")
    if not isinstance(connection_id, str) or not connection_id:
        problems.append(
            _envelope(
                "conversion_events.capi_connection_id",
                "MISSING",
                "capi_connection_id must be a non-empty string",
            )
        )
    events = wrapper.get("events")
    if not isinstance(events, list) or not events:
        problems.append(
            _envelope("conversion_events.events", "MISSING", "events must be a non-empty list")
        )
    if problems:
        return problems
    assert isinstance(connection_id, str)  # noqa: S101 - narrowed above
    assert isinstance(events, list)  # noqa: S101
    return Envelope(connection_id=connection_id, events=events)


def check_light(events: list[Any]) -> list[Problem]:
    """The `light` level: each event is an object with an id, so it can be counted."""
    problems = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            problems.append(Problem(index, "", "NOT_AN_OBJECT", "an event must be an object"))
        elif not _non_empty_string(event.get("event_id")):
            problems.append(
                Problem(index, "event_id", "MISSING", "event_id must be a non-empty string")
            )
    return problems


def check_events(
    events: list[Any], time_rules: TimeRules, refused_user_data: frozenset[str] = frozenset()
) -> list[Problem]:
    """The `full` level: every rule of the contract, for every event."""
    problems: list[Problem] = []
    for index, event in enumerate(events):
        if isinstance(event, dict):
            _check_event(index, event, time_rules, refused_user_data, problems)
        else:
            problems.append(Problem(index, "", "NOT_AN_OBJECT", "an event must be an object"))
    return problems


def _check_event(
    i: int, event: dict[str, Any], rules: TimeRules, refused: frozenset[str], out: list[Problem]
) -> None:
    out += _unknown_keys(i, "", event, EVENT_KEYS)
    if not _non_empty_string(event.get("event_id")):
        out.append(Problem(i, "event_id", "MISSING", "event_id must be a non-empty string"))
    name = event.get("event_name")
    if name is None:
        out.append(Problem(i, "event_name", "MISSING", "event_name is required"))
    elif not _one_of(name, SPOTIFY_EVENT_NAMES):
        out.append(Problem(i, "event_name", "NOT_ALLOWED", "event_name is not a Spotify event"))
    _check_event_time(i, event.get("event_time"), rules, out)
    source = event.get("action_source")
    if source is not None and not _one_of(source, ACTION_SOURCES):
        out.append(
            Problem(i, "action_source", "NOT_ALLOWED", "action_source must be WEB, APP or OFFLINE")
        )
    opt_out = event.get("opt_out_targeting")
    if opt_out is not None and not isinstance(opt_out, bool):
        out.append(
            Problem(i, "opt_out_targeting", "NOT_A_BOOLEAN", "opt_out_targeting must be boolean")
        )
    url = event.get("event_source_url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        out.append(
            Problem(
                i,
                "event_source_url",
                "BAD_URL",
                "event_source_url must start with http:// or https://",
            )
        )
    _check_user_data(i, event.get("user_data"), out)
    _check_refused(i, event.get("user_data"), refused, out)
    _check_event_details(i, event.get("event_details"), name == "PURCHASE", out)


def _check_event_time(i: int, value: Any, rules: TimeRules, out: list[Problem]) -> None:
    if value is None:
        out.append(Problem(i, "event_time", "MISSING", "event_time is required"))
        return
    when = _parse_time(value) if isinstance(value, str) else None
    if when is None:
        out.append(
            Problem(i, "event_time", "BAD_TIME", "event_time must be RFC 3339 UTC ending in Z")
        )
    elif when > rules.now + rules.max_clock_skew_s:
        out.append(Problem(i, "event_time", "IN_FUTURE", "event_time must be in the past"))
    elif rules.max_event_age_s is not None and when < rules.now - rules.max_event_age_s:
        out.append(Problem(i, "event_time", "TOO_OLD", "event_time is older than allowed"))


def _parse_time(text: str) -> float | None:
    match = _EVENT_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)


def _check_user_data(i: int, user_data: Any, out: list[Problem]) -> None:
    if user_data is None:
        out.append(Problem(i, "user_data", "MISSING", "user_data is required"))
        return
    if not isinstance(user_data, dict):
        out.append(Problem(i, "user_data", "NOT_AN_OBJECT", "user_data must be an object"))
        return
    out += _unknown_keys(i, "user_data.", user_data, USER_DATA_KEYS)
    for key in USER_DATA_STRINGS.intersection(user_data):
        if not _non_empty_string(user_data[key]):
            out.append(
                Problem(i, f"user_data.{key}", "NOT_A_STRING", f"{key} must be a non-empty string")
            )
    emails = user_data.get("hashed_emails")
    if emails is not None:
        if not isinstance(emails, list) or not emails:
            out.append(
                Problem(
                    i,
                    "user_data.hashed_emails",
                    "NOT_A_LIST",
                    "hashed_emails must be a non-empty list of SHA-256 hashes",
                )
            )
        else:
            for n, email in enumerate(emails):
                if not _is_hash(email):
                    out.append(_not_a_hash(i, f"user_data.hashed_emails[{n}]"))
    phone = user_data.get("hashed_phone_number")
    if phone is not None and not _is_hash(phone):
        out.append(_not_a_hash(i, "user_data.hashed_phone_number"))
    gender = user_data.get("gender")
    if gender is not None and not _one_of(gender, GENDERS):
        out.append(Problem(i, "user_data.gender", "NOT_ALLOWED", "gender must be MALE or FEMALE"))
    if not any(user_data.get(key) for key in IDENTIFIERS):
        out.append(
            Problem(
                i,
                "user_data",
                "NO_IDENTIFIER",
                "user_data needs ip_address, device_id, hashed_emails or hashed_phone_number",
            )
        )


def _check_refused(i: int, user_data: Any, refused: frozenset[str], out: list[Problem]) -> None:
    if refused and isinstance(user_data, dict):
        out += [
            Problem(i, f"user_data.{key}", "REFUSED", f"{key} is not accepted")
            for key in sorted(refused.intersection(user_data))
        ]


def _check_event_details(i: int, details: Any, purchase: bool, out: list[Problem]) -> None:
    if details is None:
        if purchase:
            out.append(Problem(i, "event_details", "MISSING", "PURCHASE needs amount and currency"))
        return
    if not isinstance(details, dict):
        out.append(Problem(i, "event_details", "NOT_AN_OBJECT", "event_details must be an object"))
        return
    out += _unknown_keys(i, "event_details.", details, EVENT_DETAILS_KEYS)
    amount = details.get("amount")
    if amount is None:
        if purchase:
            out.append(Problem(i, "event_details.amount", "MISSING", "PURCHASE needs an amount"))
    elif (
        isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount)
    ):
        out.append(Problem(i, "event_details.amount", "NOT_A_NUMBER", "amount must be a number"))
    currency = details.get("currency")
    if currency is None:
        if purchase:
            out.append(Problem(i, "event_details.currency", "MISSING", "PURCHASE needs a currency"))
    elif not _one_of(currency, CURRENCIES):
        out.append(
            Problem(
                i, "event_details.currency", "BAD_CURRENCY", "currency must be an ISO 4217 code"
            )
        )
    for key in ("content_name", "content_category"):
        if key in details and not _non_empty_string(details[key]):
            out.append(
                Problem(
                    i, f"event_details.{key}", "NOT_A_STRING", f"{key} must be a non-empty string"
                )
            )
    category = details.get("content_category")
    if isinstance(category, str) and category and not is_taxonomy_id(category, taxonomy_ids()):
        out.append(
            Problem(
                i,
                "event_details.content_category",
                "NOT_A_TAXONOMY_ID",
                "content_category must be a Google Product Taxonomy id",
            )
        )


def _unknown_keys(
    index: int | None, prefix: str, obj: dict[str, Any], allowed: frozenset[str]
) -> list[Problem]:
    if allowed.issuperset(obj):
        return []
    return [
        Problem(index, prefix + key, "UNKNOWN_FIELD", "unknown field")
        for key in sorted(set(obj) - allowed)
    ]


def _envelope(field: str, code: str, message: str) -> Problem:
    return Problem(None, field, code, message)


def _not_a_hash(i: int, field: str) -> Problem:
    return Problem(i, field, "NOT_A_HASH", "must be a SHA-256 hash: 64 lower-case hex characters")


def _is_hash(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and _HASH.fullmatch(value) is not None


def _one_of(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed  # a list or dict is not hashable


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value)
