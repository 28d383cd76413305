"""Identifiers as users really write them: e-mail forms, lists, invisible characters, Unicode
forms, and placeholders that identify no one. Hashes are computed here with hashlib."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.models import PropertyValue, TransformWarning
from connector.transform.emails import email_hashes
from tests.unit.transform.support import IDENTIFIED, accepted, rejected, sha

JOHN = sha("john@example.com")
UNSPECIFIED_IPV4 = "0.0.0.0"  # noqa: S104 - a value under test, nothing binds to it
JANE = sha("jane@example.org")
INVALID_EMAIL = TransformWarning("invalid_email", "email")


def _emails(value: PropertyValue) -> tuple[list[str], tuple[TransformWarning, ...]]:
    outcome = accepted({"email": value, **IDENTIFIED})
    return list(outcome.event.user_data.hashed_emails), outcome.warnings


# --- e-mail forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "john@example.com",
        "John Doe <john@example.com>",
        "John Doe <John@Example.COM>",
        '"Doe, John" <john@example.com>',
        "<john@example.com>",
        "  John Doe  < john@example.com >  ",
        "mailto:john@example.com",
        "MAILTO:John@Example.com",
        "mailto:john@example.com?subject=Hello",
        "john@example.com;",
    ],
)
def test_display_name_and_mailto_forms_are_reduced_to_the_address(raw: str) -> None:
    assert _emails(raw) == ([JOHN], ())


@pytest.mark.parametrize(
    "raw",
    [
        "john@example.com; jane@example.org",
        "john@example.com,jane@example.org",
        "john@example.com ; jane@example.org ,john@example.com",
        '"Doe, John" <john@example.com>; Jane <jane@example.org>',
        "mailto:john@example.com, mailto:jane@example.org",
    ],
)
def test_lists_split_on_commas_and_semicolons(raw: str) -> None:
    assert _emails(raw) == ([JOHN, JANE], ())


def test_a_list_property_takes_every_form() -> None:
    assert _emails(["John <john@example.com>", "mailto:jane@example.org"]) == ([JOHN, JANE], ())


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00a0", "\u00ad"],
    ids=["zwsp", "zwnj", "zwj", "word-joiner", "bom", "nbsp", "soft-hyphen"],
)
def test_invisible_characters_are_removed_before_hashing(invisible: str) -> None:
    assert _emails(f"{invisible}john@exa{invisible}mple.com{invisible}") == ([JOHN], ())


def test_unicode_is_put_in_nfc_before_lower_casing() -> None:
    composed = unicodedata.normalize("NFC", "Jürgen@Bücher.de")
    decomposed = unicodedata.normalize("NFD", "Jürgen@Bücher.de")
    assert composed != decomposed
    expected = hashlib.sha256(composed.lower().encode()).hexdigest()
    assert _emails(decomposed) == ([expected], ())
    assert _emails(f"Jürgen <{decomposed}>") == ([expected], ())


@pytest.mark.parametrize(
    "raw",
    [
        "john @example.com",  # inner whitespace
        "john@ example.com",
        "john@example@com",  # two @
        "a@b@c.com",
        "john.example.com",  # no @
        "John Doe",
        "John <john.example.com>",
        "john@example.com jane@example.org",  # two addresses without a separator
        "john@example.com (John)",
        "mailto:",
        f"{'j' * 250}@example.com",  # longer than 254 characters
    ],
)
def test_what_is_not_one_plausible_address_is_dropped_never_hashed(raw: str) -> None:
    assert _emails(raw) == ([], (INVALID_EMAIL,))


def test_a_bad_entry_drops_only_itself() -> None:
    assert _emails("john @example.com; jane@example.org") == ([JANE], (INVALID_EMAIL,))


def test_the_plain_fast_path_gives_the_general_paths_answer() -> None:
    """One plain address takes a short way; the same address inside a list takes the long
    one. Both must give the same hash."""
    for raw in ("John.Doe+tag@Example.com", "o'brien@example.ie", "a@b", "x_y-z@sub.example.co"):
        assert email_hashes(raw) == email_hashes([raw]) == ([sha(raw.lower())], ())


@given(address=st.emails().map(str))
def test_any_plain_address_hashes_alike_on_both_paths(address: str) -> None:
    assert email_hashes(address) == email_hashes([address]) == ([sha(address.lower())], ())


@given(value=st.one_of(st.text(max_size=60), st.lists(st.text(max_size=30), max_size=4)))
def test_any_text_gives_hashes_or_warnings_never_an_error(value: PropertyValue) -> None:
    hashes, problems = email_hashes(value)
    assert all(len(digest) == 64 for digest in hashes)
    assert set(problems) <= {"invalid_email", "placeholder_identifier"}


# --- placeholders ----------------------------------------------------------------------------

PLACEHOLDERS = [
    "undefined",
    "null",
    "NULL",
    "None",
    "nil",
    "n/a",
    "N/A",
    "unknown",
    "",
    "   ",
    "0",
    "00000000-0000-0000-0000-000000000000",
    "00000000000000000000000000000000",
]


def _placeholder(prop: str) -> TransformWarning:
    return TransformWarning("placeholder_identifier", prop)


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_a_placeholder_device_id_is_dropped_with_a_warning(value: str) -> None:
    outcome = accepted({"$device_id": value, "$ip": "203.0.113.9"})
    assert "device_id" not in outcome.event.to_wire()["user_data"]
    assert outcome.warnings == (_placeholder("$device_id"),)


@pytest.mark.parametrize("value", [*PLACEHOLDERS, UNSPECIFIED_IPV4, "::", "0:0:0:0:0:0:0:0", "::0"])
@pytest.mark.parametrize("prop", ["$ip", "request_ip_address", "event_ip_address"])
def test_a_placeholder_ip_is_dropped_with_a_warning(prop: str, value: str) -> None:
    outcome = accepted({prop: value, **IDENTIFIED})
    assert outcome.event.to_wire()["user_data"] == {"device_id": "device-1"}
    assert outcome.warnings == (_placeholder(prop),)


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_a_placeholder_email_is_dropped_with_a_warning(value: str) -> None:
    assert _emails(value) == ([], (_placeholder("email"),))


@pytest.mark.parametrize("value", ["", "null", "undefined"])
def test_the_hash_of_a_placeholder_is_a_placeholder(value: str) -> None:
    assert _emails(sha(value)) == ([], (_placeholder("email"),))


def test_a_placeholder_entry_among_addresses_drops_only_itself() -> None:
    assert _emails(["undefined", "john@example.com"]) == ([JOHN], (_placeholder("email"),))
    assert _emails("null; john@example.com") == ([JOHN], (_placeholder("email"),))


@pytest.mark.parametrize("value", [*PLACEHOLDERS, 0, "000-000-0000"])
def test_a_placeholder_phone_is_dropped_with_a_warning(value: PropertyValue) -> None:
    outcome = accepted({"phone": value, **IDENTIFIED})
    assert "hashed_phone_number" not in outcome.event.to_wire()["user_data"]
    assert outcome.warnings == (_placeholder("phone"),)


def test_an_event_with_only_placeholders_has_no_identifier() -> None:
    outcome = rejected(
        {
            "$device_id": "undefined",
            "$ip": UNSPECIFIED_IPV4,
            "request_ip_address": "::",
            "email": "null",
            "phone": "0",
        }
    )
    assert (outcome.rejection.reason, outcome.rejection.field) == (
        "no_user_identifier",
        "user_data",
    )
    assert set(outcome.warnings) == {
        _placeholder("$device_id"),
        _placeholder("$ip"),
        _placeholder("request_ip_address"),
        _placeholder("email"),
        _placeholder("phone"),
    }


@pytest.mark.parametrize(
    ("prop", "value", "field"),
    [
        ("$device_id", "00000000-0000-0000-0000-000000000001", "device_id"),
        ("$device_id", "nullable-device", "device_id"),
        ("$ip", "10.0.0.0", "ip_address"),
        ("$ip", "::1", "ip_address"),
    ],
)
def test_near_placeholders_are_real_values(prop: str, value: str, field: str) -> None:
    outcome = accepted({prop: value})
    assert outcome.event.to_wire()["user_data"] == {field: value}
    assert outcome.warnings == ()


def test_invisible_characters_in_a_phone_are_ignored() -> None:
    user_data = accepted({"phone": "+1\u200b415\u00a0555\ufeff2671"}).event.to_wire()["user_data"]
    assert user_data == {"hashed_phone_number": sha("+14155552671")}
