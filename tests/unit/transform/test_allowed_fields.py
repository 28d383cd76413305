"""The field allow-list: only the listed optional fields leave; the required ones always go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.assemble import load_settings
from connector.config import TransformSettings
from connector.errors import ConfigError
from connector.models import PropertyValue, TransformWarning
from connector.transform.allowed_fields import OPTIONAL_FIELDS, leaving
from tests.unit.transform.support import NOW_TEXT, accepted, rejected, sha

PROPS: dict[str, PropertyValue] = {
    "$event_id": "evt-1",
    "$action_source": "WEB",
    "event_source_url": "https://shop.example/p/1",
    "$ip": "203.0.113.12",
    "email": "jane@example.com",
    "$user_agent": "Mozilla/5.0",
    "$spclid": "click-1",
    "content_name": "Shoe",
    "amount": 12.5,
    "currency": "EUR",
}


def test_by_default_everything_the_table_maps_leaves() -> None:
    assert accepted(PROPS, "VIEW").event.to_wire() == {
        "event_id": "evt-1",
        "event_name": "VIEW",
        "event_time": NOW_TEXT,
        "action_source": "WEB",
        "opt_out_targeting": True,
        "event_source_url": "https://shop.example/p/1",
        "user_data": {
            "ip_address": "203.0.113.12",
            "user_agent": "Mozilla/5.0",
            "hashed_emails": [sha("jane@example.com")],
            "clickID": "click-1",
        },
        "event_details": {"amount": 12.5, "currency": "EUR", "content_name": "Shoe"},
    }


def test_only_listed_optional_fields_leave() -> None:
    allowed = ["user_data.hashed_emails", "event_details.content_name"]
    assert accepted(PROPS, "VIEW", allowed_fields=allowed).event.to_wire() == {
        "event_id": "evt-1",
        "event_name": "VIEW",
        "event_time": NOW_TEXT,
        "opt_out_targeting": True,
        "user_data": {"hashed_emails": [sha("jane@example.com")]},
        "event_details": {"content_name": "Shoe"},
    }


def test_a_purchase_keeps_its_amount_and_currency() -> None:
    outcome = accepted(PROPS, "PURCHASE", allowed_fields=["user_data.ip_address"])
    assert outcome.event.to_wire()["event_details"] == {"amount": 12.5, "currency": "EUR"}
    assert (
        "event_details"
        not in accepted(PROPS, "VIEW", allowed_fields=["user_data.ip_address"]).event.to_wire()
    )


def test_a_field_not_allowed_is_never_named_in_a_warning() -> None:
    props = {**PROPS, "$user_agent": "x" * 5000, "$spclid": "", "event_source_url": "ftp://x"}
    outcome = accepted(props, "VIEW", allowed_fields=["user_data.ip_address"])
    assert outcome.warnings == ()
    everything = accepted(props, "VIEW")
    assert set(everything.warnings) == {
        TransformWarning("too_long", "$user_agent"),
        TransformWarning("invalid_url", "event_source_url"),
    }


def test_when_the_list_removes_every_identifier_the_event_had_the_message_says_so() -> None:
    props: dict[str, PropertyValue] = {"$ip": "203.0.113.12", "email": "jane@example.com"}
    outcome = rejected(props, "VIEW", allowed_fields=["user_data.device_id"])
    assert outcome.rejection.reason == "no_user_identifier"
    assert outcome.rejection.field == "user_data"
    assert "transform.allowed_fields removed" in outcome.rejection.message
    plain = rejected({"session_id": "s"}, "VIEW", allowed_fields=["user_data.device_id"])
    assert "allowed_fields" not in plain.rejection.message


def test_required_fields_may_be_listed_and_change_nothing() -> None:
    allowed = ["event_id", "user_data", "opt_out_targeting", "user_data.ip_address"]
    assert accepted(PROPS, "VIEW", allowed_fields=allowed).event.to_wire()["user_data"] == {
        "ip_address": "203.0.113.12"
    }


def test_the_fields_that_leave_in_contract_order() -> None:
    assert leaving(["user_data.clickID", "event_source_url", "user_data.ip_address"]) == [
        "event_id",
        "event_name",
        "event_time",
        "opt_out_targeting",
        "user_data",
        "event_source_url",
        "user_data.ip_address",
        "user_data.clickID",
    ]
    assert leaving(None)[5:] == list(OPTIONAL_FIELDS)


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "transform:\n  allowed_fields: [user_data.ip_address, user_data.click_id]\n",
            r"transform\.allowed_fields: .*unknown Spotify fields \['user_data\.click_id'\]",
        ),
        (
            "transform:\n  allowed_fields: [event_source_url]\n",
            r"transform\.allowed_fields: .*allows none of the user identifiers",
        ),
    ],
)
def test_bad_lists_are_refused_at_load_naming_the_setting(
    tmp_path: Any, yaml: str, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_every_optional_field_is_a_contract_path() -> None:
    assert TransformSettings(allowed_fields=tuple(OPTIONAL_FIELDS)).allowed_fields == tuple(
        OPTIONAL_FIELDS
    )


def test_the_chart_schema_offers_exactly_these_fields() -> None:
    schema_path = Path(__file__).parents[3] / "helm/spotify-capi-connector/values.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    transform = schema["properties"]["config"]["properties"]["transform"]["properties"]
    assert transform["allowed_fields"]["items"]["enum"] == leaving(None)
