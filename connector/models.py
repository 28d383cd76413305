"""The few core types that travel between stages.

They are immutable and already valid when built, so nothing re-validates them downstream.
The ones built for every record (coordinates, envelope, tracking event, Spotify event and its
parts, transform outcome, delivery result) are NamedTuples: a frozen dataclass is several times
dearer to construct, field by field (bench/README.md). The rest, built only when something
goes wrong, are frozen dataclasses with slots.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, TypeAlias

PropertyValue: TypeAlias = bool | int | float | str | list[str] | None


class SourceCoordinates(NamedTuple):
    """Where a record sits in Kafka; the identity of a record for offsets and results."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None  # the Kafka record timestamp, when the broker gave one


class SourceRecord(NamedTuple):
    """A raw Kafka record: coordinates plus the bytes, before decoding."""

    coordinates: SourceCoordinates
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    received_at_ms: int = 0  # wall clock when the connector polled it


class TrackingEvent(NamedTuple):
    """A decoded tracking event (schemas/tracking_event.avsc)."""

    event: str
    properties: dict[str, PropertyValue]
    timestamp_ms: int | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    message_id: str | None = None


# --- the Spotify side -------------------------------------------------------------------------


class UserData(NamedTuple):
    """`user_data` of a Spotify event. Hashes are 64 lower-case hex characters."""

    ip_address: str | None = None
    hashed_emails: tuple[str, ...] = ()
    device_id: str | None = None
    hashed_phone_number: str | None = None
    user_agent: str | None = None
    gender: str | None = None
    request_ip_address: str | None = None
    event_ip_address: str | None = None
    platform_id: str | None = None
    session_id: str | None = None
    alias_id: str | None = None
    cookie1: str | None = None
    page_id: str | None = None
    connection_type: str | None = None
    age_group: str | None = None
    click_id: str | None = None  # sent as `clickID`

    def to_wire(self) -> dict[str, Any]:
        return _user_data_wire(self)


def user_data_key(attribute: str) -> str:
    """The `user_data` key Spotify reads for a `UserData` attribute (`click_id` → `clickID`)."""
    return "clickID" if attribute == "click_id" else attribute


# Every `user_data` key of the contract, in `UserData`'s order.
USER_DATA_KEYS: Final[tuple[str, ...]] = tuple(user_data_key(name) for name in UserData._fields)

_USER_DATA_SCALARS: Final = (
    "ip_address",
    "device_id",
    "hashed_phone_number",
    "user_agent",
    "gender",
    "request_ip_address",
    "event_ip_address",
    "platform_id",
    "session_id",
    "alias_id",
    "cookie1",
    "page_id",
    "connection_type",
    "age_group",
)
# (index in UserData, key) of each: read by index, which compiled is a C array read, where
# getattr by name is a generic attribute lookup.
_USER_DATA_SCALAR_INDEXES: Final[tuple[tuple[int, str], ...]] = tuple(
    (UserData._fields.index(name), name) for name in _USER_DATA_SCALARS
)


def _user_data_wire(user_data: UserData) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for index, name in _USER_DATA_SCALAR_INDEXES:
        value = user_data[index]
        if value is not None:
            wire[name] = value
    if user_data.hashed_emails:
        wire["hashed_emails"] = list(user_data.hashed_emails)
    if user_data.click_id is not None:
        wire["clickID"] = user_data.click_id
    return wire


class EventDetails(NamedTuple):
    """`event_details` of a Spotify event."""

    amount: float | None = None
    currency: str | None = None
    content_name: str | None = None
    content_category: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return _event_details_wire(self)


def _event_details_wire(details: EventDetails) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    if details.amount is not None:
        wire["amount"] = details.amount
    if details.currency is not None:
        wire["currency"] = details.currency
    if details.content_name is not None:
        wire["content_name"] = details.content_name
    if details.content_category is not None:
        wire["content_category"] = details.content_category
    return wire


class SpotifyEvent(NamedTuple):
    """One event as it goes inside `conversion_events.events`."""

    event_id: str
    event_name: str
    event_time: str  # UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`
    user_data: UserData
    action_source: str | None = None
    opt_out_targeting: bool | None = True
    event_source_url: str | None = None
    event_details: EventDetails | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "event_id": self.event_id,
            "event_name": self.event_name,
            "event_time": self.event_time,
        }
        if self.action_source is not None:
            wire["action_source"] = self.action_source
        if self.opt_out_targeting is not None:
            wire["opt_out_targeting"] = self.opt_out_targeting
        if self.event_source_url is not None:
            wire["event_source_url"] = self.event_source_url
        # The functions, not the methods: compiled, a NamedTuple's method is a generic call.
        wire["user_data"] = _user_data_wire(self.user_data)
        if self.event_details is not None:
            details = _event_details_wire(self.event_details)
            if details:
                wire["event_details"] = details
        return wire


# The per-record path builds these NamedTuples with `new_tuple(Cls, (every field, in order))`:
# the `__new__` that namedtuple generates is Python code, ~0.3-0.8 µs a call even compiled, where
# `tuple.__new__` is C. The callers' field order is what tests/unit/transform checks by name.
new_tuple: Final = tuple.__new__


# --- transform outcomes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransformWarning:
    """A non-fatal problem: the field was dropped. Carries no value, so no PII."""

    code: str
    field: str

    def __str__(self) -> str:
        return f"{self.code}:{self.field}"

    def __reduce__(self) -> tuple[type[TransformWarning], tuple[str, str]]:
        # Rebuilt by its constructor: compiled (connector/process/compiled.py), a frozen dataclass's
        # own unpickling assigns the fields and is refused. Results cross from prepare processes.
        return TransformWarning, (self.code, self.field)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record cannot become a Spotify event. `message` never quotes a raw value."""

    reason: str
    field: str | None
    message: str

    def __reduce__(self) -> tuple[type[Rejection], tuple[str, str | None, str]]:
        return Rejection, (self.reason, self.field, self.message)  # as TransformWarning's


class Identifiers(NamedTuple):
    """The identifiers of a sent event by kind, and those dropped as `kind:reason`; no values."""

    carried: tuple[str, ...] = ()  # email, phone, ip, device_id, click_id
    email_count: int = 0
    dropped: tuple[str, ...] = ()  # e.g. `phone:invalid`, `email:not_allowed`


class Accepted(NamedTuple):
    event: SpotifyEvent
    warnings: tuple[TransformWarning, ...] = ()
    event_time_ms: int | None = None  # event.event_time as epoch ms, for the result record
    identifiers: Identifiers = Identifiers()


class Rejected(NamedTuple):
    rejection: Rejection
    event_id: str | None = None
    event_name: str | None = None
    warnings: tuple[TransformWarning, ...] = ()


class Skipped(NamedTuple):
    """The event may not be sent (the consent rule says `drop`): not a failure, nothing to send.
    `reason` is `consent_denied` or `consent_missing`; `field` the consent property."""

    reason: str
    field: str
    event_id: str
    event_name: str | None = None
    warnings: tuple[TransformWarning, ...] = ()  # none today; the same shape as the others


TransformOutcome: TypeAlias = Accepted | Rejected | Skipped


# --- delivery results ------------------------------------------------------------------------


class DeliveryStatus(enum.StrEnum):
    DELIVERED = "DELIVERED"
    REJECTED_TRANSFORM = "REJECTED_TRANSFORM"
    REJECTED_SPOTIFY = "REJECTED_SPOTIFY"
    RETRY_EXHAUSTED = "RETRY_EXHAUSTED"
    UNDECODABLE = "UNDECODABLE"
    SKIPPED_NO_CONSENT = "SKIPPED_NO_CONSENT"  # last: the Avro enum's indices stay as they were


class DeliveryResult(NamedTuple):
    """What became of one source record (schemas/delivery_result.avsc)."""

    coordinates: SourceCoordinates
    status: DeliveryStatus
    received_at_ms: int
    settled_at_ms: int
    event_id: str | None = None
    event_name: str | None = None
    event_time_ms: int | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_field: str | None = None
    error_message: str | None = None
    attempts: int = 0
    sp_trace_id: str | None = None
    warnings: tuple[str, ...] = ()
    connection: str | None = None  # the Spotify connection that answered for it
    identifiers: tuple[str, ...] = ()  # the kinds the sent event carried (Identifiers)
    email_count: int = 0
    identifiers_dropped: tuple[str, ...] = ()  # `kind:reason`

    @property
    def is_failure(self) -> bool:
        """A failure is dead-lettered; a delivery or a skip for want of consent is not."""
        return self.status not in _NOT_FAILURES


_NOT_FAILURES: Final = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED_NO_CONSENT})
