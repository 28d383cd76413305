"""Sample tracking events for tests: every property of the Freshpaint table set."""

from __future__ import annotations

from typing import Any

ALL_PROPERTIES: dict[str, Any] = {
    "spotify_event_name": "PURCHASE",
    "$action_source": "WEB",
    "opt_out_targeting": True,
    "event_source_url": "https://shop.example/thanks",
    "$event_id": "order-0001",
    "$event_time": "2026-01-23T12:34:56.000Z",
    "$ip": "203.0.113.12",
    "email": "Jane.Doe@Example.com",
    "$device_id": "device-123",
    "phone": "+1 (555) 123-4567",
    "$user_agent": "Mozilla/5.0",
    "gender": "female",
    "request_ip_address": "203.0.113.13",
    "event_ip_address": "203.0.113.14",
    "platform_id": "platform-1",
    "session_id": "session-1",
    "alias_id": "alias-1",
    "cookie1": "cookie-1",
    "page_id": "page-1",
    "connection_type": "wifi",
    "age_group": "25-34",
    "$spclid": "spclid-1",
    "amount": 100.0,
    "currency": "usd",
    "content_name": "Shoes",
    "content_category": "Apparel & Accessories",
}


def tracking_record(index: int, **overrides: Any) -> dict[str, Any]:
    """A valid purchase with unique ids, as a dict ready for the Avro writer."""
    properties = dict(ALL_PROPERTIES)
    properties["$event_id"] = f"order-{index:07d}"
    properties["email"] = f"user{index}@example.com"
    properties.update(overrides)
    return {"event": "Order Completed", "properties": properties, "timestamp": None}
