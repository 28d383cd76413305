"""The prepare step's common case in Rust (`native/`, built as `connector.prepare._native`).

A record whose every field the transform would send as it is, with no warning, is decoded,
transformed and written as JSON natively, without the GIL; any other record is declined and goes
through the Python path, which stays the reference (tests/unit/test_native_prepare.py holds the
two to the same Ready, byte for byte, over the differential corpus).

A rule lives once: Python owns the tables, and hands the native code every one it needs when it is
built: the property table and the rule that reads each property (`mapping.PROPERTIES`), the
fields' limits (`transform.max_length`) and wire order (`SpotifyEvent.to_wire`'s, read off an
event with every field set), the identifier kinds (`identifiers.KIND_FIELDS`) and the fields of
which an event needs one, the currency codes, Spotify event names, genders, action sources,
placeholder rule and phone plans, and the order of the Ready tuple it returns (`READY_FIELDS`). A
record carrying a property whose rule the native code does not have is declined. What the native
code cannot know by itself it is taught by Python as records go: the Spotify name of an own event
name, the taxonomy id of a content category as sent.

Used only with settings it covers: schemaless Avro with the bundled schema, no consent rule or a
boolean one (an event whose consent is not `true` is declined), no allow-list; any routing (the
routing property's key comes back with the record, and Python finds its connection).
`SPOTIFY_CAPI_PURE_PYTHON=1` turns it off with the mypyc build.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Final, TypeAlias

from connector.config import (
    SPOTIFY_EVENT_NAMES,
    DecodeSettings,
    RoutingSettings,
    TextLimits,
    TransformSettings,
)
from connector.models import (
    EventDetails,
    Identifiers,
    SourceCoordinates,
    SpotifyEvent,
    TrackingEvent,
    UserData,
    new_tuple,
    user_data_key,
)
from connector.process import compiled as _compiled
from connector.transform import Transformer, normalize
from connector.transform import mapping as m
from connector.transform.allowed_fields import IDENTIFIERS, FieldFilter
from connector.transform.event_time import MIN_EVENT_TIME_MS
from connector.transform.identifiers import KIND_FIELDS, KINDS
from connector.transform.phone import plan_texts

try:
    from connector.prepare import _native as _prepare_native
except ImportError:  # not built (CAPI_PURE_PYTHON_BUILD): the Python path does everything
    _prepare_native = None  # type: ignore[assignment]

# What the native path makes of a record it takes: a Ready's fields but the connection, plus
# the routing property's key when routing is by property. The native code builds each tuple in
# this order (handed over); the preparer unpacks it in the same.
READY_FIELDS: Final = (
    "event_id",
    "event_name",
    "event_time_ms",  # the event time in ms
    "payload",  # the event's JSON
    "kinds",  # the identifier kinds carried, as bits in KINDS' order
    "email_count",
    "route_key",
)
# A Ready tuple (READY_FIELDS), or the int of why the record was declined (bits: `UNKNOWN_NAME`,
# `UNKNOWN_CATEGORY` and `OTHER` of connector.prepare._native).
Fast: TypeAlias = tuple[str, str, int, bytes, int, int, str | None] | int
# (property, rule, field's wire path, the field's length limit if it has one)
Property: TypeAlias = tuple[str, str, str, int | None]


def available() -> bool:
    """Built, and not switched off for the Python sources."""
    return _prepare_native is not None and os.environ.get(_compiled.PURE_ENV, "") in ("", "0")


def covers(decode: DecodeSettings, transform: TransformSettings) -> bool:
    """Whether the settings are ones the native path follows (routing: any)."""
    return (
        decode.format == "avro"
        and decode.writer_schema_path is None
        and transform.consent.category is None  # a boolean consent rule, or none
        and not FieldFilter(transform.allowed_fields).restricts
    )


def used(decode: DecodeSettings, transform: TransformSettings) -> bool:
    """Whether a `Preparer` with these settings takes the native path."""
    return available() and covers(decode, transform)


def wire_order() -> tuple[str, ...]:
    """Every field's contract path (`event_id`, `user_data.clickID`) in the order
    `SpotifyEvent.to_wire` writes them: read off an event with every field set."""
    user_data = UserData._make(["x"] * len(UserData._fields))._replace(hashed_emails=("x",))
    details = EventDetails(1.0, "x", "x", "x")
    every = SpotifyEvent("x", "x", "x", user_data, "x", True, "x", details).to_wire()
    paths: list[str] = []
    for key, value in every.items():
        if isinstance(value, dict):
            paths.extend(f"{key}.{inner}" for inner in value)
        else:
            paths.append(key)
    return tuple(paths)


def wire_path(field: str) -> str:
    """A field's contract path from its attribute's: `user_data.click_id` → `user_data.clickID`."""
    parent, _, attribute = field.rpartition(".")
    return f"user_data.{user_data_key(attribute)}" if parent == "user_data" else field


def properties(
    limits: TextLimits, table: Mapping[str, tuple[str, str]] = m.PROPERTIES
) -> list[Property]:
    """The property table as the native code takes it: each field's limit is its
    `transform.max_length` (by the field's attribute), None for a field with none."""
    return [
        (prop, rule, wire_path(field), getattr(limits, field.rpartition(".")[2], None))
        for prop, (field, rule) in table.items()
    ]


class NativePrepare:
    """The native path of one `Preparer`: `prepare_batch`, then `learn` from what Python made of
    a declined record."""

    def __init__(
        self,
        transform: TransformSettings,
        routing: RoutingSettings,
        transformer: Transformer,
        table: Mapping[str, tuple[str, str]] = m.PROPERTIES,  # another only in tests
    ) -> None:
        if _prepare_native is None:
            raise RuntimeError("connector.prepare._native is not built")
        max_age_s = transform.max_event_age_s
        self._transformer = transformer
        self._unknown_name: int = _prepare_native.UNKNOWN_NAME
        self._unknown_category: int = _prepare_native.UNKNOWN_CATEGORY
        self._native = _prepare_native.NativePreparer(
            properties=properties(transform.max_length, table),
            wire_order=wire_order(),
            kinds=[KIND_FIELDS[kind] for kind in KINDS],
            identifiers=IDENTIFIERS,
            ready_fields=READY_FIELDS,
            default_opt_out=transform.default_opt_out_targeting,
            phone_digits_only=transform.phone_format == "e164_digits",
            max_age_ms=None if max_age_s is None else round(max_age_s * 1000),
            consent_property=transform.consent.property,
            route_property=routing.property if routing.by == "property" else None,
            currencies=set(normalize.iso_currency_codes()),
            spotify_names=set(SPOTIFY_EVENT_NAMES),
            genders=normalize.GENDERS,
            action_sources=set(normalize.ACTION_SOURCES),
            zero_text=normalize.ZERO_TEXT,
            longest_placeholder_word=normalize.LONGEST_PLACEHOLDER_WORD,
            min_event_time_ms=MIN_EVENT_TIME_MS,
            phone_plans=plan_texts(),
        )
        self._identifiers: dict[tuple[int, int], Identifiers] = {}

    @property
    def unruled(self) -> list[str]:
        """The properties of the table the native code has no rule for (records carrying one
        are declined)."""
        return self._native.unruled

    @property
    def unwritten(self) -> list[str]:
        """What the native code cannot write from the tables (while any, it declines all)."""
        return self._native.unwritten

    def prepare_batch(
        self, records: Sequence[tuple[bytes | None, SourceCoordinates]], now_ms: int
    ) -> list[Fast]:
        return self._native.prepare_batch([(v, c.timestamp_ms) for v, c in records], now_ms)

    def learn(self, event: TrackingEvent, declined: int) -> None:
        """Teach what Python resolved for a record declined for an unknown name or category."""
        if declined & self._unknown_name and type(event.event) is str:
            name = self._transformer.event_name_for(event.event)
            if name is not None:
                self._native.learn_name(event.event, name)
        if declined & self._unknown_category:
            value = event.properties.get(m.CONTENT_CATEGORY)
            category_id = self._transformer.category_for(value)
            if category_id is not None:
                if type(value) is str:
                    self._native.learn_category(value, category_id)
                elif type(value) is int:
                    self._native.learn_category(f"#{value}", category_id)

    def identifiers(self, kinds: int, email_count: int) -> Identifiers:
        """The Identifiers of a kinds bitmask (KINDS' order), one shared tuple each."""
        identifiers = self._identifiers.get((kinds, email_count))
        if identifiers is None:
            carried = tuple(kind for bit, kind in enumerate(KINDS) if kinds & (1 << bit))
            identifiers = new_tuple(Identifiers, (carried, email_count, ()))
            self._identifiers[(kinds, email_count)] = identifiers
        return identifiers
