"""The property table (Freshpaint's "Spotify Conversions API" destination): property → field.

The transformer reads these names and nothing else from the property bag; other properties are
ignored. Kinds of user-data values: `text` is sent as given (trimmed), `ip` is validated and sent
raw, and device id/email/phone/gender have their own rules (user_data.py).
"""

from __future__ import annotations

from typing import Final

# Event fields
SPOTIFY_EVENT_NAME: Final = "spotify_event_name"
ACTION_SOURCE: Final = "$action_source"
OPT_OUT_TARGETING: Final = "opt_out_targeting"
EVENT_SOURCE_URL: Final = "event_source_url"
EVENT_ID: Final = "$event_id"
EVENT_TIME: Final = "$event_time"

# User data with their own rules
EMAIL: Final = "email"  # → hashed_emails (list of SHA-256)
PHONE: Final = "phone"  # → hashed_phone_number (SHA-256 of E.164)
GENDER: Final = "gender"  # → gender (MALE / FEMALE)
DEVICE_ID: Final = "$device_id"  # → device_id (raw; placeholders refused)

# User data: (property, UserData attribute)
USER_IP_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("$ip", "ip_address"),
    ("request_ip_address", "request_ip_address"),
    ("event_ip_address", "event_ip_address"),
)
USER_TEXT_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("$user_agent", "user_agent"),
    ("platform_id", "platform_id"),
    ("session_id", "session_id"),
    ("alias_id", "alias_id"),
    ("cookie1", "cookie1"),
    ("page_id", "page_id"),
    ("connection_type", "connection_type"),
    ("age_group", "age_group"),
    ("$spclid", "click_id"),  # sent as `clickID`
)

# Event details
AMOUNT: Final = "amount"
CURRENCY: Final = "currency"
CONTENT_NAME: Final = "content_name"
CONTENT_CATEGORY: Final = "content_category"

# The contract: user_data needs at least one of these (clickID, cookie1, ... do not count).
IDENTIFIER_FIELDS: Final = ("ip_address", "device_id", "hashed_emails", "hashed_phone_number")

ALL_PROPERTIES: Final[tuple[str, ...]] = (
    SPOTIFY_EVENT_NAME,
    ACTION_SOURCE,
    OPT_OUT_TARGETING,
    EVENT_SOURCE_URL,
    EVENT_ID,
    EVENT_TIME,
    EMAIL,
    PHONE,
    GENDER,
    DEVICE_ID,
    *(name for name, _ in USER_IP_FIELDS),
    *(name for name, _ in USER_TEXT_FIELDS),
    AMOUNT,
    CURRENCY,
    CONTENT_NAME,
    CONTENT_CATEGORY,
)
