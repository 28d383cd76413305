"""The property table (Freshpaint's "Spotify Conversions API" destination): property → field.

The transformer reads these names and nothing else from the property bag; other properties are
ignored. Kinds of user-data values: `text` is sent as given (trimmed), `ip` is validated and sent
raw, and device id/email/phone/gender have their own rules (user_data.py).
"""

from __future__ import annotations

# Event fields
SPOTIFY_EVENT_NAME = "spotify_event_name"
ACTION_SOURCE = "$action_source"
OPT_OUT_TARGETING = "opt_out_targeting"
EVENT_SOURCE_URL = "event_source_url"
EVENT_ID = "$event_id"
EVENT_TIME = "$event_time"

# User data with their own rules
EMAIL = "email"  # → hashed_emails (list of SHA-256)
PHONE = "phone"  # → hashed_phone_number (SHA-256 of E.164)
GENDER = "gender"  # → gender (MALE / FEMALE)
DEVICE_ID = "$device_id"  # → device_id (raw; placeholders refused)

# User data: (property, UserData attribute)
USER_IP_FIELDS: tuple[tuple[str, str], ...] = (
    ("$ip", "ip_address"),
    ("request_ip_address", "request_ip_address"),
    ("event_ip_address", "event_ip_address"),
)
USER_TEXT_FIELDS: tuple[tuple[str, str], ...] = (
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
AMOUNT = "amount"
CURRENCY = "currency"
CONTENT_NAME = "content_name"
CONTENT_CATEGORY = "content_category"

# The contract: user_data needs at least one of these (clickID, cookie1, ... do not count).
IDENTIFIER_FIELDS = ("ip_address", "device_id", "hashed_emails", "hashed_phone_number")

ALL_PROPERTIES: tuple[str, ...] = (
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
