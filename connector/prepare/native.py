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
placeholder rule and phone plans, the consent rule (`ConsentRule.category`), the allow-list's
properties (`FieldFilter.removed`) and the identifier properties, and the order of the Ready tuple
it returns (`READY_FIELDS`). A record carrying a property whose rule the native code does not have
is declined. What the native code cannot know by itself it is taught by Python as records go: the
Spotify name of an own event name, the taxonomy id of a content category as sent, and the
resolution plan of each Schema Registry id's writer schema (connector/prepare/plan.py).

The settings it follows (`coverage` says which path prepares under each, and why): schemaless Avro
written with the bundled schema or any writer schema it can plan; the Confluent wire format, each
schema id planned once (an id whose writer schema it cannot plan is Python's, said once in the
log); a consent rule, boolean or by category (an event whose consent is not a clear grant is
declined: Python drops it, sends it for attribution only, or warns); an allow-list (the properties
of fields it does not allow are taken out, and the identifiers among them reported `not_allowed`,
as Python does); any routing (the routing property's key comes back with the record, and Python
finds its connection). `SPOTIFY_CAPI_PURE_PYTHON=1` turns it off with the mypyc build.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

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
from connector.prepare import plan as schema_plan
from connector.process import compiled as _compiled
from connector.schemas import avro
from connector.transform import Transformer, normalize
from connector.transform import mapping as m
from connector.transform.allowed_fields import IDENTIFIERS, FieldFilter
from connector.transform.consent import ConsentRule
from connector.transform.event_time import MIN_EVENT_TIME_MS
from connector.transform.identifiers import IDENTIFIER_PROPERTIES, KIND_FIELDS, KINDS, dropped
from connector.transform.phone import plan_texts

try:
    from connector.prepare import _native as _prepare_native
except ImportError:  # not built (CAPI_PURE_PYTHON_BUILD): the Python path does everything
    _prepare_native = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
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
    "dropped",  # the identifier properties the allow-list took out, as bits (IDENTIFIER_PROPERTIES)
)
# A Ready tuple (READY_FIELDS), or the int of why the record was declined (bits: `UNKNOWN_NAME`,
# `UNKNOWN_CATEGORY`, `OTHER`, `UNKNOWN_SCHEMA`, `WRITER_SCHEMA`, `CONSENT` of
# connector.prepare._native).
Fast: TypeAlias = tuple[str, str, int, bytes, int, int, str | None, int] | int
# (property, rule, field's wire path, the field's length limit if it has one)
Property: TypeAlias = tuple[str, str, str, int | None]


def available() -> bool:
    """Built, and not switched off for the Python sources."""
    return _prepare_native is not None and os.environ.get(_compiled.PURE_ENV, "") in ("", "0")


# Why a record was declined, as the metric's reason (`spotify_capi.prepare.records`): the first
# of these whose bit the decline code sets. Read from the extension, where the codes live.
_REASONS: tuple[tuple[str, int], ...] = (
    ()
    if _prepare_native is None
    else (
        ("unknown_schema", _prepare_native.UNKNOWN_SCHEMA),
        ("writer_schema", _prepare_native.WRITER_SCHEMA),
        ("consent", _prepare_native.CONSENT),
        ("unknown_name", _prepare_native.UNKNOWN_NAME),
        ("unknown_category", _prepare_native.UNKNOWN_CATEGORY),
    )
)
# A schema id without a plan yet (the preparer has it planned once the decoder looked it up); a
# record declined so was not read natively, so whatever it could teach is taught too (`TEACHES`).
UNKNOWN_SCHEMA: Final[int] = 0 if _prepare_native is None else _prepare_native.UNKNOWN_SCHEMA
TEACHES: Final[int] = (
    0
    if _prepare_native is None
    else _prepare_native.UNKNOWN_NAME | _prepare_native.UNKNOWN_CATEGORY
)
OTHER_REASON: Final = "other"  # anything else: a warning, a rejection, a value it does not read
REASONS: Final = (*(name for name, _ in _REASONS), OTHER_REASON)


def reason(declined: int) -> str:
    """The metric's reason for a decline code."""
    return next((name for name, bit in _REASONS if declined & bit), OTHER_REASON)


@dataclass(frozen=True, slots=True)
class Coverage:
    """Whether the native path prepares under some settings, and, per input and setting, which
    path prepares and why (check-config's `prepare` line and the start log say it)."""

    native: bool
    why: tuple[str, ...]


def coverage(decode: DecodeSettings, transform: TransformSettings) -> Coverage:
    """What the native path follows of these settings (routing: any)."""
    why: list[str] = []
    native = True
    if decode.format == "confluent":
        why.append(
            "Confluent wire format: native, each schema id's writer schema planned once; "
            "Python for an id whose writer schema it cannot plan (logged once per id)"
        )
    elif decode.writer_schema_path is None:
        why.append("schemaless Avro (the bundled schema): native")
    else:
        try:
            schema_plan.plan(avro.reading_schema_from_file(decode.writer_schema_path))
            why.append(f"schemaless Avro written with {decode.writer_schema_path}: native")
        except (schema_plan.NotPlanned, OSError, ValueError) as exc:
            native = False
            why.append(f"schemaless Avro written with {decode.writer_schema_path}: Python ({exc})")
    consent = transform.consent
    if consent.property is not None:
        rule = "boolean" if consent.category is None else f"by category {consent.category!r}"
        why.append(
            f"consent {consent.property!r} ({rule}): native for a granted consent, "
            "Python decides the others"
        )
    if FieldFilter(transform.allowed_fields).restricts:
        why.append("transform.allowed_fields: native")
    return Coverage(native, tuple(why))


def covers(decode: DecodeSettings, transform: TransformSettings) -> bool:
    """Whether the settings are ones the native path follows."""
    return coverage(decode, transform).native


def used(decode: DecodeSettings, transform: TransformSettings) -> bool:
    """Whether a `Preparer` with these settings takes the native path."""
    return available() and covers(decode, transform)


def off_reason() -> str | None:
    """Why the native path is off whatever the settings, if it is."""
    if _prepare_native is None:
        return "the native extension is not built"
    if not available():
        return f"{_compiled.PURE_ENV}=1"
    return None


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


# The parsed writer schema of a schema id already looked up, or None (connector/prepare/decode.py
# `ConfluentDecoder.fetched`).
WriterSchemas: TypeAlias = Callable[[int], Any | None]


class NativePrepare:
    """The native path of one `Preparer`: `prepare_batch`, then `learn` from what Python made of
    a declined record, and `learn_schema` a schema id's plan."""

    def __init__(
        self,
        transform: TransformSettings,
        routing: RoutingSettings,
        transformer: Transformer,
        table: Mapping[str, tuple[str, str]] = m.PROPERTIES,  # another only in tests
        *,
        decode: DecodeSettings | None = None,
        writer_schemas: WriterSchemas | None = None,  # the Confluent format's
    ) -> None:
        if _prepare_native is None:
            raise RuntimeError("connector.prepare._native is not built")
        decode = decode or DecodeSettings()
        max_age_s = transform.max_event_age_s
        self._transformer = transformer
        self._unknown_name: int = _prepare_native.UNKNOWN_NAME
        self._unknown_category: int = _prepare_native.UNKNOWN_CATEGORY
        self._writer_schemas = writer_schemas
        self._schemas: dict[int, bool] = {}  # schema id → planned (False: Python's for good)
        consent = ConsentRule(transform.consent) if transform.consent.property is not None else None
        fields = FieldFilter(transform.allowed_fields)
        self._native = _prepare_native.NativePreparer(
            properties=properties(transform.max_length, table),
            wire_order=wire_order(),
            kinds=[KIND_FIELDS[kind] for kind in KINDS],
            identifiers=IDENTIFIERS,
            ready_fields=READY_FIELDS,
            default_opt_out=transform.default_opt_out_targeting,
            phone_digits_only=transform.phone_format == "e164_digits",
            max_age_ms=None if max_age_s is None else round(max_age_s * 1000),
            schema_plan=None if decode.format == "confluent" else _schemaless_plan(decode),
            consent_property=None if consent is None else consent.property,
            consent_category=None if consent is None else consent.category,
            removed=set(fields.removed),
            removed_from_purchase=set(fields.removed_from_purchase),
            identifier_properties=IDENTIFIER_PROPERTIES,
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
        self._not_allowed: dict[tuple[int, int, int], Identifiers] = {}

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

    def learn_schema(self, schema_id: int) -> None:
        """Plan a schema id's writer schema once the decoder has looked it up, and teach the
        plan; or, when it cannot be planned, make the id Python's, with one log line."""
        if schema_id in self._schemas or self._writer_schemas is None:
            return
        writer = self._writer_schemas(schema_id)
        if writer is None:  # not looked up, or refused (unknown, not Avro): Python's each time
            return
        try:
            planned = schema_plan.plan(writer)
        except schema_plan.NotPlanned as exc:
            self._schemas[schema_id] = False
            self._native.refuse_schema(schema_id)
            log.warning(
                "schema id %d: the native path cannot follow its writer schema (%s); the Python "
                "path prepares its records",
                schema_id,
                exc,
                extra={"schema_id": schema_id},
            )
            return
        self._schemas[schema_id] = self._native.learn_schema(schema_id, planned)

    def identifiers(self, kinds: int, email_count: int, not_allowed: int = 0) -> Identifiers:
        """The Identifiers of a kinds bitmask (KINDS' order) and of the identifier properties
        the allow-list took out (IDENTIFIER_PROPERTIES' order), one shared tuple each."""
        if not_allowed:
            return self._taken_out(kinds, email_count, not_allowed)
        identifiers = self._identifiers.get((kinds, email_count))
        if identifiers is None:
            identifiers = self._identifiers[(kinds, email_count)] = self._make(kinds, email_count)
        return identifiers

    def _taken_out(self, kinds: int, email_count: int, not_allowed: int) -> Identifiers:
        key = (kinds, email_count, not_allowed)
        identifiers = self._not_allowed.get(key)
        if identifiers is None:
            identifiers = self._not_allowed[key] = self._make(kinds, email_count, not_allowed)
        return identifiers

    @staticmethod
    def _make(kinds: int, email_count: int, not_allowed: int = 0) -> Identifiers:
        carried = tuple(kind for bit, kind in enumerate(KINDS) if kinds & (1 << bit))
        removed = [p for bit, p in enumerate(IDENTIFIER_PROPERTIES) if not_allowed >> bit & 1]
        identifiers: Identifiers = new_tuple(
            Identifiers, (carried, email_count, dropped((), removed) if removed else ())
        )
        return identifiers


def _schemaless_plan(decode: DecodeSettings) -> schema_plan.Plan:
    """The plan of the schemaless writer schema (the bundled one unless another is set)."""
    if decode.writer_schema_path is None:
        return schema_plan.plan(avro.bundled_reading_schema(avro.TRACKING_EVENT))
    return schema_plan.plan(avro.reading_schema_from_file(decode.writer_schema_path))
