"""Event-level rules: name, id, optional fields, event details, rejections, the safety net."""

from __future__ import annotations

import uuid

import pytest

from connector.config import TransformSettings
from connector.models import (
    Accepted,
    PropertyValue,
    Rejected,
    SourceCoordinates,
    TrackingEvent,
    TransformWarning,
)
from connector.transform import Transformer
from connector.transform.event_id import EVENT_ID_NAMESPACE, derive_event_id
from tests.unit.transform.support import (
    COORDS,
    IDENTIFIED,
    NOW_MS,
    accepted,
    rejected,
    sha,
    wire,
)

PURCHASE: dict[str, PropertyValue] = {"amount": 19.99, "currency": "USD", **IDENTIFIED}

# --- event_name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "expected"),
    [
        ("PURCHASE", "PURCHASE"),
        ("purchase", "PURCHASE"),
        (" sign_up ", "SIGN_UP"),
        ("add to cart", "ADD_TO_CART"),
        ("check-out", "CHECK_OUT"),
        ("custom_event_5", "CUSTOM_EVENT_5"),
    ],
)
def test_spotify_event_name_property_wins(explicit: str, expected: str) -> None:
    props: dict[str, PropertyValue] = {"spotify_event_name": explicit, **PURCHASE}
    assert accepted(props, "Order Completed").event.event_name == expected


@pytest.mark.parametrize("value", ["BUY", "CUSTOM_EVENT_6", 3, True, ["PURCHASE"]])
def test_unknown_spotify_event_name_rejects_even_if_the_event_name_fits(
    value: PropertyValue,
) -> None:
    outcome = rejected({"spotify_event_name": value, **IDENTIFIED}, "VIEW")
    assert (outcome.rejection.reason, outcome.rejection.field) == (
        "invalid_event_name",
        "spotify_event_name",
    )
    assert outcome.event_name is None
    assert outcome.event_id == derive_event_id(COORDS)


@pytest.mark.parametrize(
    ("own", "expected"),
    [
        ("add to cart", "ADD_TO_CART"),
        ("Add-To-Cart", "ADD_TO_CART"),
        ("view", "VIEW"),
        ("LEAD", "LEAD"),
        (" sign up ", "SIGN_UP"),
        ("Custom Event 1", "CUSTOM_EVENT_1"),
    ],
)
def test_own_event_name_is_used_when_it_is_a_spotify_name(own: str, expected: str) -> None:
    assert accepted(IDENTIFIED, own).event.event_name == expected


def test_blank_spotify_event_name_falls_back_to_the_event_name() -> None:
    assert accepted({"spotify_event_name": "  ", **IDENTIFIED}, "Lead").event.event_name == "LEAD"


def test_mapping_translates_tracking_names() -> None:
    mapping = {"Order Completed": "PURCHASE", "Product Viewed": "PRODUCT"}
    assert accepted(PURCHASE, "Order Completed", event_name_mapping=mapping).event.event_name == (
        "PURCHASE"
    )
    # case and surrounding spaces do not matter
    outcome = accepted(IDENTIFIED, " product viewed ", event_name_mapping=mapping)
    assert outcome.event.event_name == "PRODUCT"


def test_mapping_wins_over_an_own_name_that_is_a_spotify_name() -> None:
    outcome = accepted(IDENTIFIED, "View", event_name_mapping={"View": "PRODUCT"})
    assert outcome.event.event_name == "PRODUCT"


def test_unknown_event_name_rejects() -> None:
    outcome = rejected(IDENTIFIED, "Wishlist Shared")
    assert (outcome.rejection.reason, outcome.rejection.field) == (
        "unknown_event_name",
        "event_name",
    )
    assert outcome.event_id == derive_event_id(COORDS)
    assert outcome.event_name is None


# --- event_id --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("order-0001", "order-0001"),
        ("  order-0001 ", "order-0001"),
        (12345, "12345"),
        (12345.0, "12345"),
        (-7.0, "-7"),
        (9_007_199_254_740_992.0, "9007199254740992"),
    ],
)
def test_event_id_from_the_property(value: PropertyValue, expected: str) -> None:
    assert accepted({"$event_id": value, **IDENTIFIED}).event.event_id == expected


def test_event_id_is_derived_from_the_coordinates_with_uuid5() -> None:
    outcome = accepted(IDENTIFIED)
    expected = str(uuid.uuid5(EVENT_ID_NAMESPACE, "tracking-events:3:42"))
    assert outcome.event.event_id == expected
    assert (
        uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/spotify-capi-connector/event-id")
        == EVENT_ID_NAMESPACE
    )


def test_derived_event_id_is_stable_and_differs_per_record() -> None:
    ids = {derive_event_id(SourceCoordinates("t", p, o)) for p in range(3) for o in range(50)}
    assert len(ids) == 150
    for offset in range(50):
        coordinates = SourceCoordinates("t", 1, offset, timestamp_ms=offset)
        assert derive_event_id(coordinates) == str(uuid.uuid5(EVENT_ID_NAMESPACE, f"t:1:{offset}"))


@pytest.mark.parametrize("value", [True, ["a"], "   "])
def test_unusable_event_id_is_derived(value: PropertyValue) -> None:
    outcome = accepted({"$event_id": value, **IDENTIFIED})
    assert outcome.event.event_id == derive_event_id(COORDS)
    expected = () if value == "   " else (TransformWarning("invalid_event_id", "$event_id"),)
    assert outcome.warnings == expected


# --- optional event fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("web", "WEB"), (" App ", "APP"), ("OFFLINE", "OFFLINE")]
)
def test_action_source_is_upper_cased(raw: str, expected: str) -> None:
    assert wire({"$action_source": raw, **IDENTIFIED})["action_source"] == expected


@pytest.mark.parametrize(
    ("raw", "code"), [("email", "invalid_action_source"), (1.5, "invalid_type")]
)
def test_invalid_action_source_is_omitted_with_a_warning(raw: PropertyValue, code: str) -> None:
    outcome = accepted({"$action_source": raw, **IDENTIFIED})
    assert "action_source" not in outcome.event.to_wire()
    assert outcome.warnings == (TransformWarning(code, "$action_source"),)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        (" false ", False),
        (0, False),
        (1, True),
        ("0", False),
        ("1", True),
        (1.0, True),
        ("no", False),
        ("yes", True),
    ],
)
def test_opt_out_targeting_values(raw: PropertyValue, expected: bool) -> None:
    assert wire({"opt_out_targeting": raw, **IDENTIFIED})["opt_out_targeting"] is expected


def test_opt_out_targeting_defaults_to_the_setting() -> None:
    assert wire(IDENTIFIED)["opt_out_targeting"] is True
    assert wire(IDENTIFIED, default_opt_out_targeting=False)["opt_out_targeting"] is False


@pytest.mark.parametrize("raw", ["maybe", 2, ["true"], 0.5])
def test_invalid_opt_out_targeting_falls_back_to_the_default_with_a_warning(
    raw: PropertyValue,
) -> None:
    outcome = accepted({"opt_out_targeting": raw, **IDENTIFIED})
    assert outcome.event.to_wire()["opt_out_targeting"] is True
    assert outcome.warnings == (TransformWarning("invalid_opt_out_targeting", "opt_out_targeting"),)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://shop.example/thanks", "https://shop.example/thanks"),
        (" http://shop.example/a?b=c ", "http://shop.example/a?b=c"),
        ("HTTPS://Shop.Example/Path", "https://Shop.Example/Path"),
    ],
)
def test_event_source_url(raw: str, expected: str) -> None:
    assert wire({"event_source_url": raw, **IDENTIFIED})["event_source_url"] == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("shop.example/thanks", "invalid_url"),
        ("ftp://shop.example", "invalid_url"),
        ("https://", "invalid_url"),
        ("https:///path", "invalid_url"),
        ("https://a b", "invalid_url"),
        ("javascript:alert(1)", "invalid_url"),
        ("https://shop.example/a\x00b", "invalid_url"),
        (["https://x"], "invalid_type"),
    ],
)
def test_invalid_event_source_url_is_omitted_with_a_warning(raw: PropertyValue, code: str) -> None:
    outcome = accepted({"event_source_url": raw, **IDENTIFIED})
    assert "event_source_url" not in outcome.event.to_wire()
    assert outcome.warnings == (TransformWarning(code, "event_source_url"),)


# --- event_details ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(19.99, 19.99), (20, 20.0), ("19.99", 19.99), (" 1e3 ", 1000.0), (0, 0.0), ("0.5", 0.5)],
)
def test_purchase_amounts(amount: PropertyValue, expected: float) -> None:
    details = wire({**PURCHASE, "amount": amount}, "PURCHASE")["event_details"]
    assert details == {"amount": expected, "currency": "USD"}


@pytest.mark.parametrize(("raw", "expected"), [("usd", "USD"), (" eur ", "EUR"), ("JPY", "JPY")])
def test_currency_is_an_upper_cased_iso_code(raw: str, expected: str) -> None:
    details = wire({**PURCHASE, "currency": raw}, "PURCHASE")["event_details"]
    assert details["currency"] == expected


@pytest.mark.parametrize(
    ("props", "reason", "field"),
    [
        ({"currency": "USD"}, "missing_amount", "amount"),
        ({"amount": "", "currency": "USD"}, "missing_amount", "amount"),
        ({"amount": 10}, "missing_currency", "currency"),
        ({"amount": float("nan"), "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": float("inf"), "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": -1, "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "-0.5", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "12,50", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "1e999", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "NaN", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": True, "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": ["10"], "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": 10, "currency": "XYZ"}, "invalid_currency", "currency"),
        ({"amount": 10, "currency": "US"}, "invalid_currency", "currency"),
        ({"amount": 10, "currency": "dollars"}, "invalid_currency", "currency"),
        ({"amount": 10, "currency": 840}, "invalid_currency", "currency"),
        ({"amount": 10, "currency": ["USD"]}, "invalid_currency", "currency"),
    ],
)
def test_purchase_needs_a_valid_amount_and_currency(
    props: dict[str, PropertyValue], reason: str, field: str
) -> None:
    outcome = rejected({**props, **IDENTIFIED}, "PURCHASE")
    assert (outcome.rejection.reason, outcome.rejection.field) == (reason, field)
    assert outcome.event_name == "PURCHASE"


@pytest.mark.parametrize(
    ("props", "warning"),
    [
        ({"amount": -1, "currency": "USD"}, TransformWarning("invalid_amount", "amount")),
        ({"amount": True, "currency": "USD"}, TransformWarning("invalid_amount", "amount")),
        ({"amount": float("nan"), "currency": "USD"}, TransformWarning("invalid_amount", "amount")),
    ],
)
def test_other_events_drop_a_bad_amount_with_a_warning(
    props: dict[str, PropertyValue], warning: TransformWarning
) -> None:
    outcome = accepted({**props, **IDENTIFIED}, "ADD_TO_CART")
    assert outcome.event.to_wire()["event_details"] == {"currency": "USD"}
    assert outcome.warnings == (warning,)


def test_other_events_drop_a_bad_currency_with_a_warning() -> None:
    outcome = accepted({"amount": 5, "currency": "ABC", **IDENTIFIED}, "ADD_TO_CART")
    assert outcome.event.to_wire()["event_details"] == {"amount": 5.0}
    assert outcome.warnings == (TransformWarning("invalid_currency", "currency"),)


def test_content_fields_and_no_details_when_empty() -> None:
    props: dict[str, PropertyValue] = {
        "content_name": " Shoes ",
        "content_category": "Apparel & Accessories > Shoes",
        **IDENTIFIED,
    }
    assert wire(props)["event_details"] == {"content_name": "Shoes", "content_category": "187"}
    assert "event_details" not in wire(IDENTIFIED)
    assert accepted(IDENTIFIED).event.event_details is None


# --- the whole event -------------------------------------------------------------------------


def test_golden_purchase_event() -> None:
    props: dict[str, PropertyValue] = {
        "spotify_event_name": "purchase",
        "$action_source": "web",
        "opt_out_targeting": "false",
        "event_source_url": "https://shop.example/thanks",
        "$event_id": "order-0001",
        "$event_time": "2026-01-23T13:33:56.789+01:00",
        "$ip": "203.0.113.12",
        "email": " Jane.Doe@Example.com ",
        "$device_id": "raw-device-id",
        "phone": "(415) 555-2671",
        "amount": "100",
        "currency": "usd",
        "content_name": "Shoes",
        "content_category": "Apparel & Accessories",
        "$spclid": "spclid-1",
        "unrelated": "ignored",
    }
    outcome = accepted(props, "Order Completed")
    assert outcome.warnings == ()
    assert outcome.event.to_wire() == {
        "event_id": "order-0001",
        "event_name": "PURCHASE",
        "event_time": "2026-01-23T12:33:56.789Z",
        "action_source": "WEB",
        "opt_out_targeting": False,
        "event_source_url": "https://shop.example/thanks",
        "user_data": {
            "ip_address": "203.0.113.12",
            "device_id": "raw-device-id",
            "hashed_phone_number": sha("+14155552671"),
            "hashed_emails": [sha("jane.doe@example.com")],
            "clickID": "spclid-1",
        },
        "event_details": {
            "amount": 100.0,
            "currency": "USD",
            "content_name": "Shoes",
            "content_category": "166",
        },
    }


def test_warnings_are_listed_once_each_in_order() -> None:
    props: dict[str, PropertyValue] = {
        "email": ["bad-1", "bad-2", "jane.doe@example.com"],
        "phone": ["1", "2"],
        "gender": "x",
    }
    outcome = accepted(props)
    assert outcome.warnings == (
        TransformWarning("invalid_email", "email"),
        TransformWarning("invalid_phone", "phone"),
        TransformWarning("invalid_gender", "gender"),
    )


def test_rejection_keeps_the_warnings_gathered_so_far() -> None:
    outcome = rejected({"$event_id": True, "$ip": "bad"})
    assert outcome.rejection.reason == "no_user_identifier"
    assert outcome.warnings == (
        TransformWarning("invalid_event_id", "$event_id"),
        TransformWarning("invalid_ip_address", "$ip"),
    )


def test_the_transform_is_deterministic_and_does_not_touch_its_input() -> None:
    props: dict[str, PropertyValue] = {"email": ["a@b.c"], "phone": "+14155552671", **PURCHASE}
    snapshot = {k: (list(v) if isinstance(v, list) else v) for k, v in props.items()}
    first = accepted(props, "PURCHASE")
    second = accepted(props, "PURCHASE")
    assert first == second
    assert props == snapshot


def test_a_bug_inside_becomes_a_transform_error_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure is planted in a library the transform calls, not in the transform's own
    functions: compiled (connector/process/compiled.py), those call each other directly,
    unpatched."""

    def broken(*_: object) -> None:
        raise RuntimeError("secret@example.com")

    monkeypatch.setattr("connector.transform.hashing.hashlib.sha256", broken)
    event = TrackingEvent("VIEW", {"$event_id": "e-1", "phone": "+44 20 7946 0123", **IDENTIFIED})
    outcome = Transformer(TransformSettings()).transform(event, COORDS, NOW_MS)
    assert isinstance(outcome, Rejected)
    assert outcome.rejection.reason == "transform_error"
    assert outcome.rejection.message == "the transform failed (RuntimeError); a bug"
    assert (outcome.event_id, outcome.event_name) == ("e-1", "VIEW")


def test_malformed_event_objects_do_not_raise() -> None:
    transformer = Transformer(TransformSettings())
    odd_name = TrackingEvent(None, IDENTIFIED)  # type: ignore[arg-type]
    odd_props = TrackingEvent("VIEW", None)  # type: ignore[arg-type]
    odd_time = TrackingEvent("VIEW", dict(IDENTIFIED), timestamp_ms="x")  # type: ignore[arg-type]
    assert transformer.transform(odd_name, COORDS, NOW_MS) == Rejected(
        rejected(IDENTIFIED, "nope").rejection, derive_event_id(COORDS), None
    )
    no_props = transformer.transform(odd_props, COORDS, NOW_MS)
    assert isinstance(no_props, Rejected)
    assert no_props.rejection.reason == "no_user_identifier"
    with_time = transformer.transform(odd_time, COORDS, NOW_MS)
    assert isinstance(with_time, Accepted)
    assert with_time.event.event_time == "2026-01-23T12:34:56.000Z"


# --- a refused event id ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        12.5,  # not an integer
        9_007_199_254_740_994.0,  # 2^53 + 2: a double has lost the digit below it
        1e300,
        float("nan"),
        float("inf"),
    ],
)
def test_a_float_event_id_that_is_not_an_exact_integer_rejects_the_event(value: float) -> None:
    outcome = rejected({"$event_id": value, **IDENTIFIED})
    assert (outcome.rejection.reason, outcome.rejection.field) == ("invalid_event_id", "$event_id")
    assert "2^53" in outcome.rejection.message
    assert outcome.event_id == derive_event_id(COORDS)  # the result is keyed by the derived id


# --- caps ------------------------------------------------------------------------------------


def test_an_event_id_over_its_cap_rejects_the_event() -> None:
    assert accepted({"$event_id": "e" * 256, **IDENTIFIED}).event.event_id == "e" * 256
    outcome = rejected({"$event_id": "e" * 257, **IDENTIFIED})
    assert (outcome.rejection.reason, outcome.rejection.field) == (
        "event_id_too_long",
        "$event_id",
    )
    assert outcome.event_id == derive_event_id(COORDS)
    assert "e" * 257 not in outcome.rejection.message


def test_the_event_id_cap_is_a_setting() -> None:
    limits = {"event_id": 8}
    assert accepted({"$event_id": "12345678", **IDENTIFIED}, max_length=limits).event.event_id == (
        "12345678"
    )
    outcome = rejected({"$event_id": 123456789, **IDENTIFIED}, max_length=limits)
    assert outcome.rejection.reason == "event_id_too_long"


@pytest.mark.parametrize(
    ("prop", "cap", "field"),
    [
        ("content_name", 1024, "content_name"),
        ("$user_agent", 1024, "user_agent"),
        ("$device_id", 256, "device_id"),
        ("platform_id", 256, "platform_id"),
        ("session_id", 256, "session_id"),
        ("alias_id", 256, "alias_id"),
        ("cookie1", 1024, "cookie1"),
        ("page_id", 256, "page_id"),
        ("connection_type", 64, "connection_type"),
        ("age_group", 64, "age_group"),
        ("$spclid", 512, "clickID"),
    ],
)
def test_optional_text_over_its_cap_is_dropped_with_a_warning(
    prop: str, cap: int, field: str
) -> None:
    props: dict[str, PropertyValue] = {"$ip": "203.0.113.9"}
    at_cap = accepted({**props, prop: "x" * cap}).event.to_wire()
    assert (at_cap.get("event_details") or at_cap["user_data"])[field] == "x" * cap
    outcome = accepted({**props, prop: " " + "x" * (cap + 1) + " "})
    wire = outcome.event.to_wire()
    assert field not in wire["user_data"]
    assert "event_details" not in wire
    assert outcome.warnings == (TransformWarning("too_long", prop),)


def test_a_url_over_its_cap_is_dropped_with_a_warning() -> None:
    url = "https://shop.example/" + "p" * (2048 - 21)
    assert wire({"event_source_url": url, **IDENTIFIED})["event_source_url"] == url
    outcome = accepted({"event_source_url": url + "p", **IDENTIFIED})
    assert "event_source_url" not in outcome.event.to_wire()
    assert outcome.warnings == (TransformWarning("too_long", "event_source_url"),)


def test_caps_are_settings_with_defaults_kept_for_the_rest() -> None:
    settings = TransformSettings.model_validate({"max_length": {"content_name": 5}})
    assert settings.max_length.content_name == 5
    assert settings.max_length.event_source_url == 2048
    outcome = accepted({"content_name": "Boots!", **IDENTIFIED}, max_length={"content_name": 5})
    assert outcome.warnings == (TransformWarning("too_long", "content_name"),)
