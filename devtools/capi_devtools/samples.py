"""Realistic sample tracking events, for the demo and the benchmarks. Deterministic per seed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

# What a tracking tool sends, and the share of traffic it has on a typical shop.
EVENT_MIX: tuple[tuple[str, str | None, float], ...] = (
    # (tracking event name, spotify_event_name property or None, weight)
    ("Page Viewed", "VIEW", 0.35),
    ("Product Viewed", "PRODUCT", 0.20),
    ("add to cart", None, 0.15),  # mapped by its own name
    ("Checkout Started", "CHECK_OUT", 0.08),
    ("Order Completed", None, 0.12),  # mapped through transform.event_name_mapping
    ("Signed Up", "SIGN_UP", 0.05),
    ("Lead Captured", "LEAD", 0.05),
)
DEMO_EVENT_NAME_MAPPING = {"Order Completed": "PURCHASE"}
CLICK_THROUGH_EVERY = 10  # one visit in ten arrives from a Spotify ad click and carries $spclid
# `marketing_consent`, as a consent-management tool sets it: one event in twenty denies it and one
# in twenty has none (the tool had not loaded yet); the others grant it. Click-throughs grant it.
CONSENT_EVERY = 20
CONSENT_DENIED_AT = 5  # index % CONSENT_EVERY
CONSENT_MISSING_AT = 15
DEMO_CONSENT = {"property": "marketing_consent", "on_denied": "drop", "on_missing": "drop"}
# content_category as shops write it: Google Product Taxonomy paths, category names and ids
# (the transform sends the id: 187, 223, 2271, 638, 2915, 166).
_CATEGORIES = (
    "Apparel & Accessories > Shoes",
    "Electronics > Audio",
    "Dresses",
    "Kitchen & Dining",
    "2915",
    166,
)
# Identifiers as real shops send them now and then: a local number too short to be a phone
# (dropped as invalid) and the all-zero advertising id of a device that limits tracking (a
# placeholder): the demo's match-quality table shows both.
SHORT_PHONE_EVERY, SHORT_PHONE_AT = 8, 3
ZERO_DEVICE_EVERY, ZERO_DEVICE_AT = 12, 7
ZERO_DEVICE_ID = "00000000-0000-0000-0000-000000000000"
_PHONES = (
    "+1 (415) 555-{n:04d}",
    "+44 20 7946 {n:04d}",
    "+49 30 1234{n:04d}",
    "+33 1 42 68 {n:04d}",
)


def sample_events(
    count: int, seed: int = 7, start_ms: int = 1_767_225_600_000
) -> Iterator[dict[str, Any]]:
    """`count` valid events with every property of the Freshpaint table set ($spclid on
    click-through visits only) and a `marketing_consent` (see CONSENT_EVERY)."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    names = [name for name, _, _ in EVENT_MIX]
    weights = [weight for _, _, weight in EVENT_MIX]
    spotify_names = {name: spotify for name, spotify, _ in EVENT_MIX}
    for index in range(count):
        name = rng.choices(names, weights)[0]
        properties: dict[str, Any] = {
            "$event_id": f"evt-{seed}-{index:08d}",
            "$event_time": start_ms + index * 10,
            "$action_source": "WEB",
            "opt_out_targeting": rng.random() < 0.8,
            "event_source_url": f"https://shop.example/p/{index % 500}",
            "$ip": f"203.0.{index % 250}.{index % 200 + 1}",
            "email": f"Customer.{index}@Example.com ",
            "$device_id": f"device-{index % 5000:05d}",
            "phone": _PHONES[index % len(_PHONES)].format(n=index % 10_000),
            "$user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
            "gender": rng.choice(("male", "F", "female", "M")),
            "request_ip_address": "198.51.100.7",
            "event_ip_address": f"203.0.{index % 250}.{index % 200 + 1}",
            "platform_id": "web",
            "session_id": f"session-{index // 20}",
            "alias_id": f"alias-{index % 9000}",
            "cookie1": f"ck-{index:x}",
            "page_id": f"page-{index % 300}",
            "connection_type": "wifi",
            "age_group": "25-34",
            "amount": round(rng.uniform(5, 400), 2),
            "currency": rng.choice(("USD", "eur", "GBP")),
            "content_name": f"Product {index % 500}",
            "content_category": rng.choice(_CATEGORIES),
        }
        if index % SHORT_PHONE_EVERY == SHORT_PHONE_AT:
            properties["phone"] = f"555-{index % 100:02d}"
        if index % ZERO_DEVICE_EVERY == ZERO_DEVICE_AT:
            properties["$device_id"] = ZERO_DEVICE_ID
        if index % CONSENT_EVERY != CONSENT_MISSING_AT:
            properties["marketing_consent"] = index % CONSENT_EVERY != CONSENT_DENIED_AT
        if index % CLICK_THROUGH_EVERY == 0:
            properties["$spclid"] = f"spclid-{index:x}"
        if spotify_names[name]:
            properties["spotify_event_name"] = spotify_names[name]
        yield {"event": name, "properties": properties, "timestamp": start_ms + index * 10}


# The properties a typical web event carries (~350 bytes encoded, like the ~320 of issue 20's
# measurements), as opposed to `sample_events`' every property of the table (~690 bytes).
TYPICAL_PROPERTIES = frozenset(
    {
        "$event_id",
        "$event_time",
        "event_source_url",
        "$ip",
        "email",
        "phone",
        "$user_agent",
        "amount",
        "currency",
        "marketing_consent",
        "$spclid",
        "spotify_event_name",
    }
)


def typical_events(
    count: int, seed: int = 7, start_ms: int = 1_767_225_600_000
) -> Iterator[dict[str, Any]]:
    """`sample_events` with only the TYPICAL_PROPERTIES: identifiers, a value, consent."""
    for event in sample_events(count, seed, start_ms):
        kept = {k: v for k, v in event["properties"].items() if k in TYPICAL_PROPERTIES}
        yield {**event, "properties": kept}


def invalid_events(seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """Events the transform must reject, each with the reason the demo expects."""
    base = next(sample_events(1, seed=seed + 1))
    cases: list[tuple[str, dict[str, Any]]] = []

    def variant(reason: str, event: str | None = None, **changes: Any) -> None:
        properties = {**base["properties"], **changes}
        properties["$event_id"] = f"invalid-{seed}-{len(cases)}"
        properties = {k: v for k, v in properties.items() if v is not None}
        cases.append((reason, {**base, "event": event or base["event"], "properties": properties}))

    variant("unknown event name", event="Wishlist Shared", spotify_event_name=None)
    variant("purchase without amount", spotify_event_name="PURCHASE", amount=None)
    variant(
        "no user identifier",
        **{"$ip": None, "email": None, "phone": None, "$device_id": None},
    )
    variant("event time in the future", **{"$event_time": "2999-01-01T00:00:00Z"})
    return cases
