"""Event-name aliases: Spotify Pixel commands, stape-io/spotify-tag names and Segment e-commerce
names, on by default; spotify_event_name and the user's mapping win; a setting turns them off."""

from __future__ import annotations

import pytest

from connector.models import PropertyValue
from connector.transform.event_names import EVENT_NAME_ALIASES
from tests.unit.transform.support import IDENTIFIED, accepted, rejected

PURCHASE: dict[str, PropertyValue] = {"amount": 19.99, "currency": "USD", **IDENTIFIED}

# The documented table, by value (README.md shows the same).
ALIASES = [
    # Spotify Pixel commands
    ("view", "VIEW"),
    ("product", "PRODUCT"),
    ("lead", "LEAD"),
    ("addtocart", "ADD_TO_CART"),
    ("checkout", "CHECK_OUT"),
    ("purchase", "PURCHASE"),
    # stape-io/spotify-tag
    ("Page_View", "VIEW"),
    ("View_Product", "PRODUCT"),
    ("Lead", "LEAD"),
    ("Add_Cart", "ADD_TO_CART"),
    ("Start_Checkout", "CHECK_OUT"),
    ("Purchase", "PURCHASE"),
    ("Sign_Up", "SIGN_UP"),
    ("Alias", "ALIAS"),
    ("Custom_Event_1", "CUSTOM_EVENT_1"),
    ("Custom_Event_2", "CUSTOM_EVENT_2"),
    ("Custom_Event_3", "CUSTOM_EVENT_3"),
    ("Custom_Event_4", "CUSTOM_EVENT_4"),
    ("Custom_Event_5", "CUSTOM_EVENT_5"),
    # Segment e-commerce spec
    ("Product Viewed", "PRODUCT"),
    ("Product Added", "ADD_TO_CART"),
    ("Checkout Started", "CHECK_OUT"),
    ("Order Completed", "PURCHASE"),
    ("Signed Up", "SIGN_UP"),
]


def test_the_table_is_the_documented_one() -> None:
    assert dict(ALIASES) == EVENT_NAME_ALIASES


@pytest.mark.parametrize(("alias", "expected"), ALIASES)
def test_each_alias_is_accepted_by_default(alias: str, expected: str) -> None:
    assert accepted(PURCHASE, alias).event.event_name == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("ORDER_COMPLETED", "PURCHASE"),
        ("order-completed", "PURCHASE"),
        ("OrderCompleted", "PURCHASE"),
        (" order  completed ", "PURCHASE"),
        ("page view", "VIEW"),
        ("PageView", "VIEW"),
        ("add-to-cart", "ADD_TO_CART"),
        ("AddToCart", "ADD_TO_CART"),
        ("CheckOut", "CHECK_OUT"),
        ("start checkout", "CHECK_OUT"),
        ("custom-event-3", "CUSTOM_EVENT_3"),
        ("signed_up", "SIGN_UP"),
    ],
)
def test_aliases_forgive_case_spaces_underscores_and_hyphens(written: str, expected: str) -> None:
    assert accepted(PURCHASE, written).event.event_name == expected


def test_spotify_event_name_wins_over_an_alias() -> None:
    props: dict[str, PropertyValue] = {"spotify_event_name": "LEAD", **IDENTIFIED}
    assert accepted(props, "Order Completed").event.event_name == "LEAD"


def test_the_mapping_wins_over_an_alias() -> None:
    outcome = accepted(
        IDENTIFIED, "Order Completed", event_name_mapping={"order completed": "LEAD"}
    )
    assert outcome.event.event_name == "LEAD"


@pytest.mark.parametrize("alias", ["Order Completed", "addtocart", "Page_View", "Add_Cart"])
def test_the_setting_turns_the_aliases_off(alias: str) -> None:
    outcome = rejected(PURCHASE, alias, event_name_aliases=False)
    assert (outcome.rejection.reason, outcome.rejection.field) == (
        "unknown_event_name",
        "event_name",
    )


def test_without_aliases_spotify_names_and_the_mapping_still_work() -> None:
    assert accepted(PURCHASE, "add to cart", event_name_aliases=False).event.event_name == (
        "ADD_TO_CART"
    )
    mapped = accepted(
        PURCHASE,
        "Order Completed",
        event_name_aliases=False,
        event_name_mapping={"Order Completed": "PURCHASE"},
    )
    assert mapped.event.event_name == "PURCHASE"


@pytest.mark.parametrize("name", ["Wishlist Shared", "Page", "Order", "x" * 300])
def test_other_names_stay_unknown(name: str) -> None:
    assert rejected(PURCHASE, name).rejection.reason == "unknown_event_name"
