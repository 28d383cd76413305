"""user_data golden vectors: hashes computed here with hashlib on the literal normalised text."""

from __future__ import annotations

import hashlib

import pytest

from connector.models import PropertyValue, TransformWarning
from tests.unit.transform.support import IDENTIFIED, accepted, rejected, sha, wire

JANE = hashlib.sha256(b"jane.doe@example.com").hexdigest()
JOHN = hashlib.sha256(b"john+tag@example.org").hexdigest()


# --- hashing ---------------------------------------------------------------------------------


def test_hash_vector_is_sha256_of_utf8_normalised_text() -> None:
    assert wire({"email": "jane.doe@example.com"})["user_data"]["hashed_emails"] == [JANE]


def test_non_ascii_email_is_hashed_as_utf8() -> None:
    expected = hashlib.sha256("jürgen@bücher.de".encode()).hexdigest()
    assert wire({"email": "Jürgen@Bücher.de"})["user_data"]["hashed_emails"] == [expected]


@pytest.mark.parametrize(
    "raw",
    [
        "jane.doe@example.com",
        "  Jane.Doe@Example.COM  ",
        "JANE.DOE@EXAMPLE.COM",
        "\tjane.doe@example.com\n",
    ],
)
def test_email_is_trimmed_and_lower_cased_only(raw: str) -> None:
    assert wire({"email": raw})["user_data"]["hashed_emails"] == [JANE]


def test_email_keeps_dots_and_plus_tags() -> None:
    assert wire({"email": "John+Tag@example.org"})["user_data"]["hashed_emails"] == [JOHN]
    assert sha("john@example.org") != JOHN


def test_several_emails_from_a_list_or_commas_are_deduplicated_in_order() -> None:
    from_list = wire(
        {"email": ["jane.doe@example.com", "john+tag@example.org", "JANE.DOE@example.com"]}
    )
    from_text = wire({"email": "jane.doe@example.com, john+tag@example.org,jane.doe@example.com"})
    assert from_list["user_data"]["hashed_emails"] == [JANE, JOHN]
    assert from_text["user_data"]["hashed_emails"] == [JANE, JOHN]


def test_already_hashed_email_is_lower_cased_not_hashed_again() -> None:
    assert wire({"email": JANE.upper()})["user_data"]["hashed_emails"] == [JANE]
    assert wire({"email": f" {JANE} "})["user_data"]["hashed_emails"] == [JANE]


@pytest.mark.parametrize("raw", ["jane.doe.example.com", "@example.com", "jane@", "@"])
def test_email_without_text_around_an_at_is_dropped_with_a_warning(raw: str) -> None:
    outcome = accepted({"email": raw, **IDENTIFIED})
    assert outcome.event.user_data.hashed_emails == ()
    assert "hashed_emails" not in outcome.event.to_wire()["user_data"]
    assert outcome.warnings == (TransformWarning("invalid_email", "email"),)


def test_one_bad_email_among_good_ones_drops_only_itself() -> None:
    outcome = accepted({"email": ["not-an-email", "jane.doe@example.com"]})
    assert outcome.event.user_data.hashed_emails == (JANE,)
    assert outcome.warnings == (TransformWarning("invalid_email", "email"),)


def test_blank_email_entries_are_absent_not_invalid() -> None:
    outcome = accepted({"email": " , jane.doe@example.com, ", **IDENTIFIED})
    assert outcome.event.user_data.hashed_emails == (JANE,)
    assert outcome.warnings == ()


@pytest.mark.parametrize("value", [True, 12, 1.5])
def test_email_of_a_wrong_type_is_dropped_with_a_warning(value: PropertyValue) -> None:
    outcome = accepted({"email": value, **IDENTIFIED})
    assert outcome.event.user_data.hashed_emails == ()
    assert outcome.warnings == (TransformWarning("invalid_type", "email"),)


# --- phone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 415 555 2671", "US", "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("1-415-555-2671", "US", "+14155552671"),
        ("+14155552671", "US", "+14155552671"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "GB", "+442079460958"),
        ("07700 900123", "GB", "+447700900123"),
        ("+49 30 1234567", "US", "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0033 1 23 45 67 89", "FR", "+33123456789"),
        ("+55 11 91234-5678", "US", "+5511912345678"),
        ("(11) 91234-5678", "BR", "+5511912345678"),
        ("+91 98765 43210", "US", "+919876543210"),
        ("098765 43210", "IN", "+919876543210"),
        ("98765-43210", "IN", "+919876543210"),
        ("+81 90-1234-5678", "US", "+819012345678"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("03-1234-5678", "JP", "+81312345678"),
        ("+39 06 1234 5678", "US", "+390612345678"),
        ("06 1234 5678", "IT", "+390612345678"),
        ("+61 4 1234 5678", "US", "+61412345678"),
        ("0412 345 678", "AU", "+61412345678"),
    ],
)
def test_phone_is_hashed_in_e164_with_plus(raw: str, region: str, e164: str) -> None:
    user_data = wire({"phone": raw}, default_phone_region=region)["user_data"]
    assert user_data["hashed_phone_number"] == sha(e164)


@pytest.mark.parametrize(
    ("raw", "region", "digits"),
    [
        ("(415) 555-2671", "US", "14155552671"),
        ("+44 20 7946 0958", "US", "442079460958"),
        ("030 1234567", "DE", "49301234567"),
    ],
)
def test_phone_format_e164_digits_drops_the_plus(raw: str, region: str, digits: str) -> None:
    user_data = wire({"phone": raw}, default_phone_region=region, phone_format="e164_digits")[
        "user_data"
    ]
    assert user_data["hashed_phone_number"] == sha(digits)


def test_phone_given_as_an_integer_is_read_as_digits() -> None:
    assert wire({"phone": 14155552671})["user_data"]["hashed_phone_number"] == sha("+14155552671")


def test_already_hashed_phone_is_lower_cased_not_hashed_again() -> None:
    digest = sha("+14155552671")
    assert wire({"phone": digest.upper()})["user_data"]["hashed_phone_number"] == digest


@pytest.mark.parametrize(
    "raw", ["12345", "+1 123 456 7890", "+999 1234567", "call me", "+44 20 7946 09580000", "++1"]
)
def test_invalid_phone_is_dropped_with_a_warning(raw: str) -> None:
    outcome = accepted({"phone": raw, **IDENTIFIED})
    assert outcome.event.user_data.hashed_phone_number is None
    assert "hashed_phone_number" not in outcome.event.to_wire()["user_data"]
    assert outcome.warnings == (TransformWarning("invalid_phone", "phone"),)


def test_phone_list_takes_the_first_valid_number() -> None:
    outcome = accepted({"phone": ["nope", "(415) 555-2671", "+442079460958"]})
    assert outcome.event.user_data.hashed_phone_number == sha("+14155552671")
    assert outcome.warnings == (TransformWarning("invalid_phone", "phone"),)


def test_phone_of_a_wrong_type_is_dropped_with_a_warning() -> None:
    outcome = accepted({"phone": True, **IDENTIFIED})
    assert outcome.event.user_data.hashed_phone_number is None
    assert outcome.warnings == (TransformWarning("invalid_type", "phone"),)


# --- gender, IPs, plain fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("m", "MALE"),
        ("M", "MALE"),
        ("male", "MALE"),
        (" Male ", "MALE"),
        ("MAN", "MALE"),
        ("f", "FEMALE"),
        ("F", "FEMALE"),
        ("female", "FEMALE"),
        ("FEMALE", "FEMALE"),
    ],
)
def test_gender_maps_to_male_or_female(raw: str, expected: str) -> None:
    assert wire({"gender": raw, **IDENTIFIED})["user_data"]["gender"] == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("x", "invalid_gender"),
        ("other", "invalid_gender"),
        ("non-binary", "invalid_gender"),
        (1, "invalid_gender"),
        (1.5, "invalid_type"),
        (["m"], "invalid_type"),
        (True, "invalid_type"),
    ],
)
def test_other_gender_values_are_omitted_with_a_warning(raw: PropertyValue, code: str) -> None:
    outcome = accepted({"gender": raw, **IDENTIFIED})
    assert "gender" not in outcome.event.to_wire()["user_data"]
    assert outcome.warnings == (TransformWarning(code, "gender"),)


@pytest.mark.parametrize(
    "ip", ["203.0.113.12", "10.0.0.0", "255.255.255.255", "2001:db8::1", "::ffff:192.0.2.1", "::1"]
)
def test_valid_ips_are_sent_raw(ip: str) -> None:
    props: dict[str, PropertyValue] = {"$ip": ip, "request_ip_address": ip, "event_ip_address": ip}
    user_data = wire(props)["user_data"]
    assert user_data["ip_address"] == ip
    assert user_data["request_ip_address"] == ip
    assert user_data["event_ip_address"] == ip


@pytest.mark.parametrize(
    "ip",
    [
        "256.1.1.1",
        "1.2.3",
        "01.2.3.4",
        "1.2.3.4.5",
        "2001:db8:::1",
        "fe80::1%eth0",
        "host",
        "1.2.3.4\x00",
    ],
)
def test_invalid_ips_are_dropped_with_warnings(ip: str) -> None:
    props: dict[str, PropertyValue] = {"$ip": ip, "event_ip_address": ip, **IDENTIFIED}
    outcome = accepted(props)
    assert "ip_address" not in outcome.event.to_wire()["user_data"]
    assert "event_ip_address" not in outcome.event.to_wire()["user_data"]
    assert outcome.warnings == (
        TransformWarning("invalid_ip_address", "$ip"),
        TransformWarning("invalid_ip_address", "event_ip_address"),
    )


def test_every_user_property_of_the_table_lands_in_its_field() -> None:
    props: dict[str, PropertyValue] = {
        "$ip": "203.0.113.12",
        "email": "jane.doe@example.com",
        "$device_id": " raw-device-id ",
        "phone": "+14155552671",
        "$user_agent": "Mozilla/5.0",
        "gender": "f",
        "request_ip_address": "198.51.100.7",
        "event_ip_address": "2001:db8::7",
        "platform_id": "web",
        "session_id": 1234,
        "alias_id": "alias-1",
        "cookie1": "c1",
        "page_id": "p-9",
        "connection_type": "wifi",
        "age_group": "25-34",
        "$spclid": "click-123",
    }
    assert wire(props)["user_data"] == {
        "ip_address": "203.0.113.12",
        "device_id": "raw-device-id",
        "hashed_phone_number": sha("+14155552671"),
        "user_agent": "Mozilla/5.0",
        "gender": "FEMALE",
        "request_ip_address": "198.51.100.7",
        "event_ip_address": "2001:db8::7",
        "platform_id": "web",
        "session_id": "1234",
        "alias_id": "alias-1",
        "cookie1": "c1",
        "page_id": "p-9",
        "connection_type": "wifi",
        "age_group": "25-34",
        "hashed_emails": [JANE],
        "clickID": "click-123",
    }


@pytest.mark.parametrize("value", [True, 1.5, ["a", "b"]])
def test_plain_field_of_a_wrong_type_is_dropped_with_a_warning(value: PropertyValue) -> None:
    outcome = accepted({"$user_agent": value, **IDENTIFIED})
    assert "user_agent" not in outcome.event.to_wire()["user_data"]
    assert outcome.warnings == (TransformWarning("invalid_type", "$user_agent"),)


def test_blank_plain_fields_are_absent_without_warning() -> None:
    outcome = accepted({"$user_agent": "   ", "cookie1": "", **IDENTIFIED})
    assert outcome.event.to_wire()["user_data"] == {"device_id": "device-1"}
    assert outcome.warnings == ()


# --- identifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "user_data"),
    [
        ({"$ip": "203.0.113.12"}, {"ip_address": "203.0.113.12"}),
        ({"$device_id": "d"}, {"device_id": "d"}),
        ({"email": "jane.doe@example.com"}, {"hashed_emails": [JANE]}),
        ({"phone": "+14155552671"}, {"hashed_phone_number": sha("+14155552671")}),
    ],
)
def test_any_one_identifier_is_enough(
    props: dict[str, PropertyValue], user_data: dict[str, object]
) -> None:
    assert wire(props)["user_data"] == user_data


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"$spclid": "click", "cookie1": "c", "request_ip_address": "203.0.113.1"},
        {"$ip": "not-an-ip", "email": "no-at-sign", "phone": "123", "$device_id": "  "},
    ],
)
def test_no_usable_identifier_rejects(props: dict[str, PropertyValue]) -> None:
    outcome = rejected(props)
    assert outcome.rejection.reason == "no_user_identifier"
    assert outcome.rejection.field == "user_data"
    assert outcome.event_name == "VIEW"
    assert outcome.event_id is not None
