"""The consent rule: granted, denied or missing consent, under drop, attribution_only, send."""

from __future__ import annotations

from typing import Any

import pytest

from connector.config import ConsentSettings, TransformSettings
from connector.errors import ConfigError
from connector.models import Accepted, PropertyValue, Skipped, TransformWarning
from connector.transform.consent import Consent, ConsentRule
from tests.unit.transform.support import NOW_TEXT, accepted, sha, transform

# Every field the table maps, so what attribution_only leaves out is visible.
FULL: dict[str, PropertyValue] = {
    "$event_id": "evt-1",
    "$action_source": "WEB",
    "event_source_url": "https://shop.example/p/1",
    "$ip": "203.0.113.12",
    "$device_id": "device-1",
    "email": "jane@example.com",
    "phone": "+14155550123",
    "$user_agent": "Mozilla/5.0",
    "gender": "female",
    "session_id": "s-1",
    "$spclid": "click-1",
    "cookie1": "c-1",
    "opt_out_targeting": False,
    "content_name": "Shoe",
    "amount": 12.5,
    "currency": "EUR",
}
FULL_WIRE: dict[str, Any] = {
    "event_id": "evt-1",
    "event_name": "PURCHASE",
    "event_time": NOW_TEXT,
    "action_source": "WEB",
    "opt_out_targeting": False,
    "event_source_url": "https://shop.example/p/1",
    "user_data": {
        "ip_address": "203.0.113.12",
        "device_id": "device-1",
        "hashed_phone_number": sha("+14155550123"),
        "user_agent": "Mozilla/5.0",
        "gender": "FEMALE",
        "session_id": "s-1",
        "cookie1": "c-1",
        "hashed_emails": [sha("jane@example.com")],
        "clickID": "click-1",
    },
    "event_details": {"amount": 12.5, "currency": "EUR", "content_name": "Shoe"},
}
ATTRIBUTION_WIRE: dict[str, Any] = {
    **FULL_WIRE,
    "opt_out_targeting": True,
    "user_data": {
        "ip_address": "203.0.113.12",
        "device_id": "device-1",
        "hashed_phone_number": sha("+14155550123"),
        "hashed_emails": [sha("jane@example.com")],
    },
}
BOOLEAN = {"property": "marketing_consent"}
ONETRUST = {"property": "onetrust_groups", "category": "C0004"}
DENIED: dict[str, PropertyValue] = {"marketing_consent": False}
GRANTED: dict[str, PropertyValue] = {"marketing_consent": True}


def outcome(consent: dict[str, Any], props: dict[str, PropertyValue]) -> Any:
    return transform({**FULL, **props}, "Order Completed", consent=consent)


# --- granted, denied, missing under drop, attribution_only, send ----------------------------


@pytest.mark.parametrize("action", ["drop", "attribution_only", "send"])
def test_granted_consent_sends_everything_whatever_the_actions(action: str) -> None:
    rule = {**BOOLEAN, "on_denied": action, "on_missing": action}
    result = outcome(rule, GRANTED)
    assert isinstance(result, Accepted)
    assert result.event.to_wire() == FULL_WIRE
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("state", "props"), [("denied", DENIED), ("missing", {})], ids=["denied", "missing"]
)
def test_drop_skips_the_event_naming_why(state: str, props: dict[str, PropertyValue]) -> None:
    rule = {
        **BOOLEAN,
        f"on_{state}": "drop",
        "on_denied" if state == "missing" else "on_missing": "send",
    }
    assert outcome(rule, props) == Skipped(
        f"consent_{state}", "marketing_consent", "evt-1", "PURCHASE"
    )


@pytest.mark.parametrize(
    ("state", "props"), [("denied", DENIED), ("missing", {})], ids=["denied", "missing"]
)
def test_attribution_only_keeps_event_fields_and_the_four_identifiers(
    state: str, props: dict[str, PropertyValue]
) -> None:
    rule = {**BOOLEAN, f"on_{state}": "attribution_only"}
    result = outcome(rule, props)
    assert isinstance(result, Accepted)
    assert result.event.to_wire() == ATTRIBUTION_WIRE
    assert result.warnings == (TransformWarning(f"consent_{state}", "marketing_consent"),)


@pytest.mark.parametrize(
    ("state", "props"), [("denied", DENIED), ("missing", {})], ids=["denied", "missing"]
)
def test_send_sends_everything_with_a_warning(state: str, props: dict[str, PropertyValue]) -> None:
    rule = {**BOOLEAN, f"on_{state}": "send"}
    result = outcome(rule, props)
    assert isinstance(result, Accepted)
    assert result.event.to_wire() == FULL_WIRE
    assert result.warnings == (TransformWarning(f"consent_{state}", "marketing_consent"),)


def test_the_defaults_drop_both_denied_and_missing() -> None:
    assert outcome(BOOLEAN, DENIED) == Skipped(
        "consent_denied", "marketing_consent", "evt-1", "PURCHASE"
    )
    assert outcome(BOOLEAN, {}) == Skipped(
        "consent_missing", "marketing_consent", "evt-1", "PURCHASE"
    )


def test_off_by_default_the_property_means_nothing() -> None:
    assert accepted({**FULL, **DENIED}, "Order Completed").event.to_wire() == FULL_WIRE


def test_a_dropped_event_with_an_unknown_name_is_skipped_not_rejected() -> None:
    assert transform({**FULL, **DENIED}, "Mystery", consent=BOOLEAN) == Skipped(
        "consent_denied", "marketing_consent", "evt-1", None
    )


def test_attribution_only_still_needs_an_identifier() -> None:
    props: dict[str, PropertyValue] = {"session_id": "s-1", "$spclid": "click-1", **DENIED}
    result = transform(props, "VIEW", consent={**BOOLEAN, "on_denied": "attribution_only"})
    assert not isinstance(result, Accepted | Skipped)
    assert result.rejection.reason == "no_user_identifier"


# --- reading the property ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, Consent.GRANTED),
        ("true", Consent.GRANTED),
        ("YES", Consent.GRANTED),
        (1, Consent.GRANTED),
        (False, Consent.DENIED),
        ("false", Consent.DENIED),
        (0, Consent.DENIED),
        (None, Consent.MISSING),
        ("  ", Consent.MISSING),
        ("maybe", Consent.MISSING),
        (7, Consent.MISSING),
        (["true"], Consent.MISSING),
    ],
)
def test_a_boolean_property(value: PropertyValue, expected: Consent) -> None:
    rule = ConsentRule(ConsentSettings(property="marketing_consent"))
    assert rule.read({"marketing_consent": value}) is expected


def test_an_absent_property_is_missing() -> None:
    assert ConsentRule(ConsentSettings(property="marketing_consent")).read({}) is Consent.MISSING


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("C0001,C0004", Consent.GRANTED),
        (" c0001 , c0004 ", Consent.GRANTED),
        ("C0001,C0002", Consent.DENIED),
        ("C0001:1,C0004:1", Consent.GRANTED),
        ("C0001:1,C0004:0", Consent.DENIED),
        ("C00041", Consent.DENIED),
        (["C0001", "C0004"], Consent.GRANTED),
        (["C0001"], Consent.DENIED),
        ([], Consent.DENIED),
        ("", Consent.MISSING),
        (None, Consent.MISSING),
        (True, Consent.MISSING),
        (4, Consent.MISSING),
    ],
)
def test_a_category_in_a_list_or_comma_text(value: PropertyValue, expected: Consent) -> None:
    rule = ConsentRule(ConsentSettings(property="onetrust_groups", category="C0004"))
    assert rule.read({"onetrust_groups": value}) is expected


def test_a_named_category_in_a_list_reaches_the_outcome() -> None:
    rule = {"property": "consent", "category": "advertising"}
    granted = outcome(rule, {"consent": ["analytics", "advertising"]})
    assert isinstance(granted, Accepted)
    assert granted.event.to_wire() == FULL_WIRE
    assert outcome(rule, {"consent": ["analytics"]}) == Skipped(
        "consent_denied", "consent", "evt-1", "PURCHASE"
    )
    assert outcome(ONETRUST, {"onetrust_groups": "C0001,C0004"}).event.to_wire() == FULL_WIRE


# --- settings ------------------------------------------------------------------------------


def test_a_category_without_a_property_is_refused() -> None:
    with pytest.raises(ValueError, match="category is set but property is not"):
        TransformSettings(consent=ConsentSettings(category="C0004"))


def test_an_unknown_action_is_refused_at_load(tmp_path: Any) -> None:
    from connector.assemble import load_settings

    path = tmp_path / "c.yaml"
    path.write_text("transform:\n  consent:\n    property: c\n    on_denied: forward\n")
    with pytest.raises(ConfigError, match=r"transform\.consent\.on_denied"):
        load_settings(path)


def test_attribution_only_also_keeps_to_the_allow_list() -> None:
    allowed = ["user_data.ip_address", "user_data.user_agent", "event_details.content_name"]
    rule = {**BOOLEAN, "on_denied": "attribution_only"}
    result = transform({**FULL, **DENIED}, "VIEW", consent=rule, allowed_fields=allowed)
    assert isinstance(result, Accepted)
    assert result.event.to_wire() == {
        "event_id": "evt-1",
        "event_name": "VIEW",
        "event_time": NOW_TEXT,
        "opt_out_targeting": True,
        "user_data": {"ip_address": "203.0.113.12"},
        "event_details": {"content_name": "Shoe"},
    }
