"""What a result says of an event's identifiers: kinds carried, e-mail count, and drops by
reason; never a value, raw or hashed."""

from __future__ import annotations

import hashlib

from connector.config import TextLimits
from connector.models import Identifiers, PropertyValue, SourceCoordinates, SourceRecord
from connector.prepare.preparer import Ready
from connector.results.codec import encode_result
from connector.results.delivery import failed_result, sent_result
from connector.sink import SendOutcome, SendStatus, SinkItem
from tests.unit.transform.support import accepted, rejected

EMAILS = ["ann@example.com", "bob@example.org"]
PHONE = "+46701234567"
IP = "198.51.100.7"
DEVICE = "device-7f3a9c"
CLICK = "click-42abc"


def test_every_kind_is_named_in_order_with_the_email_count() -> None:
    outcome = accepted(
        {"email": EMAILS, "phone": PHONE, "$ip": IP, "$device_id": DEVICE, "$spclid": CLICK}
    )
    assert outcome.identifiers == Identifiers(
        carried=("email", "phone", "ip", "device_id", "click_id"), email_count=2
    )


def test_drops_are_named_by_kind_and_reason() -> None:
    outcome = accepted(
        {
            "email": ["ann@example.com", "not-an-address", "undefined"],
            "phone": "12",
            "$ip": "0.0.0.0",  # noqa: S104 - a value under test
            "$device_id": "d" * 300,
        },
        max_length=TextLimits(device_id=64),
    )
    assert outcome.identifiers.carried == ("email",)
    assert outcome.identifiers.email_count == 1
    assert set(outcome.identifiers.dropped) == {
        "email:invalid",
        "email:placeholder",
        "phone:invalid",
        "ip:placeholder",
        "device_id:too_long",
    }


def test_identifiers_the_allow_list_takes_out_are_not_allowed() -> None:
    outcome = accepted(
        {"email": EMAILS[0], "phone": PHONE, "$ip": IP},
        allowed_fields=["user_data.ip_address"],
    )
    assert outcome.identifiers == Identifiers(
        carried=("ip",), dropped=("email:not_allowed", "phone:not_allowed")
    )


def test_a_rejected_event_s_result_names_what_was_dropped() -> None:
    outcome = rejected({"phone": "undefined", "$ip": "not an ip"})
    record = SourceRecord(SourceCoordinates("events", 0, 1), None, b"", received_at_ms=1)
    result, _ = failed_result(record.coordinates, record, outcome, 2)
    assert result.identifiers == ()
    assert set(result.identifiers_dropped) == {"phone:placeholder", "ip:invalid"}


def test_no_value_raw_or_hashed_reaches_the_result_bytes() -> None:
    props: dict[str, PropertyValue] = {
        "email": EMAILS,
        "phone": PHONE,
        "$ip": IP,
        "$device_id": DEVICE,
        "$spclid": CLICK,
    }
    outcome = accepted(props)
    ready = Ready("e-1", "PURCHASE", 1, b"{}", (), "default", outcome.identifiers)
    item = SinkItem(ref=None, event_id="e-1", payload=b"{}", connection="default")
    sent = SendOutcome(item, SendStatus.DELIVERED, 200, None, None, 1, None, 5)
    record = SourceRecord(SourceCoordinates("events", 0, 1), None, b"", received_at_ms=1)
    result = sent_result(record.coordinates, record, ready, sent)
    assert result.identifiers == ("email", "phone", "ip", "device_id", "click_id")
    assert result.email_count == 2
    written = encode_result(result)
    raw = [*EMAILS, PHONE, PHONE[1:], IP, DEVICE, CLICK]
    hashed = [hashlib.sha256(v.encode()).hexdigest() for v in raw]
    for value in [*raw, *hashed, *outcome.event.user_data.hashed_emails]:
        assert value.encode() not in written
        assert value not in repr(result)


def test_an_identifier_spotify_refused_is_no_longer_carried_but_dropped_as_refused() -> None:
    ready = Ready(
        "e-1",
        "VIEW",
        1,
        b"{}",
        (),
        "default",
        accepted({"$spclid": CLICK, "$device_id": DEVICE}).identifiers,
    )
    item = SinkItem(ref=None, event_id="e-1", payload=b"{}", connection="default")
    healed = SendOutcome(
        item, SendStatus.DELIVERED, 200, None, None, 2, None, 5,
        removed_fields=("user_data.clickID", "user_data.gender"),
    )  # fmt: skip
    record = SourceRecord(SourceCoordinates("events", 0, 1), None, b"", received_at_ms=1)
    result = sent_result(record.coordinates, record, ready, healed)
    assert (result.identifiers, result.identifiers_dropped) == (
        ("device_id",),
        ("click_id:refused",),
    )
