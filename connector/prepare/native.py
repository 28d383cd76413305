"""The prepare step's common case in Rust (`native/`, built as `connector.prepare._native`).

A record whose every field the transform would send as it is, with no warning, is decoded,
transformed and written as JSON natively, without the GIL; any other record is declined and goes
through the Python path, which stays the reference (tests/unit/test_native_prepare.py holds the
two to the same Ready, byte for byte, over the differential corpus). What the native code cannot
know by itself it is taught by Python once: the Spotify name of an own event name, the taxonomy
id of a content category as sent.

Used only with settings it covers: schemaless Avro with the bundled schema, no consent rule or a
boolean one (an event whose consent is not `true` is declined), no allow-list; any routing (the
routing property's key comes back with the record, and Python finds its connection).
`SPOTIFY_CAPI_PURE_PYTHON=1` turns it off with the mypyc build.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final, TypeAlias

from connector.config import (
    SPOTIFY_EVENT_NAMES,
    DecodeSettings,
    RoutingSettings,
    TransformSettings,
)
from connector.models import Identifiers, SourceCoordinates, TrackingEvent, new_tuple
from connector.process import compiled as _compiled
from connector.transform import Transformer
from connector.transform import mapping as m
from connector.transform.allowed_fields import FieldFilter
from connector.transform.identifiers import KINDS
from connector.transform.normalize import iso_currency_codes
from connector.transform.phone import plan_texts

try:
    from connector.prepare import _native as _prepare_native
except ImportError:  # not built (CAPI_PURE_PYTHON_BUILD): the Python path does everything
    _prepare_native = None  # type: ignore[assignment]

# Why a record was declined (native/src/transform.rs): bits Python can teach away.
UNKNOWN_NAME: Final = 1
UNKNOWN_CATEGORY: Final = 2
# The user-data text fields' limits, in mapping.USER_TEXT_FIELDS' order: native/src/transform.rs'
# TEXT_FIELDS has the same.
_TEXT_LIMITS: Final = tuple(attribute for _, attribute in m.USER_TEXT_FIELDS)

# What the native path makes of a record: a Ready's fields but the connection (event id, event
# name, event time in ms, payload, the identifier kinds as bits of KINDS, the e-mail count) and
# the routing property's key when routing is by property. Or the int of why it was declined.
Fast: TypeAlias = tuple[str, str, int, bytes, int, int, str | None] | int


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


class NativePrepare:
    """The native path of one `Preparer`: `prepare_batch`, then `learn` from what Python made of
    a declined record."""

    def __init__(
        self, transform: TransformSettings, routing: RoutingSettings, transformer: Transformer
    ) -> None:
        if _prepare_native is None:
            raise RuntimeError("connector.prepare._native is not built")
        limits = transform.max_length
        max_age_s = transform.max_event_age_s
        self._transformer = transformer
        self._native = _prepare_native.NativePreparer(
            max_event_id=limits.event_id,
            max_url=limits.event_source_url,
            max_content_name=limits.content_name,
            max_category=limits.content_category,
            max_device_id=limits.device_id,
            text_limits=tuple(getattr(limits, name) for name in _TEXT_LIMITS),
            default_opt_out=transform.default_opt_out_targeting,
            phone_digits_only=transform.phone_format == "e164_digits",
            max_age_ms=None if max_age_s is None else round(max_age_s * 1000),
            consent_property=transform.consent.property,
            route_property=routing.property if routing.by == "property" else None,
            currencies=set(iso_currency_codes()),
            spotify_names=set(SPOTIFY_EVENT_NAMES),
            phone_plans=plan_texts(),
        )
        self._identifiers: dict[tuple[int, int], Identifiers] = {}

    def prepare_batch(
        self, records: Sequence[tuple[bytes | None, SourceCoordinates]], now_ms: int
    ) -> list[Fast]:
        return self._native.prepare_batch([(v, c.timestamp_ms) for v, c in records], now_ms)

    def learn(self, event: TrackingEvent, declined: int) -> None:
        """Teach what Python resolved for a record declined for an unknown name or category."""
        if declined & UNKNOWN_NAME and type(event.event) is str:
            name = self._transformer.event_name_for(event.event)
            if name is not None:
                self._native.learn_name(event.event, name)
        if declined & UNKNOWN_CATEGORY:
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
