"""The property table (Freshpaint's "Spotify Conversions API" destination): property → field.

The transformer reads these names and nothing else from the property bag; other properties are
ignored. Kinds of user-data values: `text` is sent as given (trimmed), `ip` is validated and sent
raw, and device id/email/phone/gender have their own rules (user_data.py).

`PROPERTIES` is the whole table with the rule that reads each property. The native prepare path
receives it (connector/prepare/native.py) and declines a record carrying a property whose rule it
does not have. Its native twin: native/src/props.rs `PropertyTable` and `Rule`.
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

# Every property → (the field it feeds, by its attribute: `SpotifyEvent`'s, or `user_data.` and
# `UserData`'s, or `event_details.` and `EventDetails`'; the rule that reads it, by the name of
# its Python function, `content_category` for taxonomy.py's resolver). A property added with a
# new rule is declined by the native path until native/src/props.rs `Rule` has its twin; one
# added with a rule the native code has, into a field `to_wire` writes, works there as it is.
PROPERTIES: Final[dict[str, tuple[str, str]]] = {
    SPOTIFY_EVENT_NAME: ("event_name", "explicit_name"),
    ACTION_SOURCE: ("action_source", "action_source"),
    OPT_OUT_TARGETING: ("opt_out_targeting", "flag"),
    EVENT_SOURCE_URL: ("event_source_url", "url"),
    EVENT_ID: ("event_id", "event_id"),
    EVENT_TIME: ("event_time", "event_time"),
    EMAIL: ("user_data.hashed_emails", "email_hashes"),
    PHONE: ("user_data.hashed_phone_number", "hashed_phone"),
    GENDER: ("user_data.gender", "gender"),
    DEVICE_ID: ("user_data.device_id", "device_id"),
    **{prop: (f"user_data.{attribute}", "ip_address") for prop, attribute in USER_IP_FIELDS},
    **{prop: (f"user_data.{attribute}", "capped_text") for prop, attribute in USER_TEXT_FIELDS},
    AMOUNT: ("event_details.amount", "amount"),
    CURRENCY: ("event_details.currency", "currency"),
    CONTENT_NAME: ("event_details.content_name", "capped_text"),
    CONTENT_CATEGORY: ("event_details.content_category", "content_category"),
}

ALL_PROPERTIES: Final[tuple[str, ...]] = tuple(PROPERTIES)
