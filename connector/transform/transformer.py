"""TrackingEvent → SpotifyEvent, or a typed rejection. Pure: no I/O, no clock, never raises.

Decisions where the contract leaves room (also in docs/decisions.md):
- event_name: `spotify_event_name`, then `event_name_mapping`, then the own name or a built-in
  alias (`event_names.py`); a present but unknown `spotify_event_name` is `invalid_event_name`.
  Nothing fits: `unknown_event_name`.
- event_id: `$event_id` text or number; absent or of a wrong type: derived from the source
  coordinates (see `event_id.py`), so redeliveries keep their id, with a warning for a wrong
  type. Refused, rejecting the event: a float that is not an exact integer within 2^53
  (`invalid_event_id`) and text over `max_length.event_id` (`event_id_too_long`).
- content_category: a Google Product Taxonomy id (`taxonomy.py`); else left out with the
  warning `unknown_content_category`.
- event_time: `$event_time`, else the record's `timestamp`, else the Kafka timestamp (values
  ≤ 0 mean "none" there), else now. Up to `max_future_skew_s` ahead: sent as now with the warning
  `event_time_adjusted`; further ahead: `event_time_in_future`. Older than `max_event_age_s`:
  `too_old`. Unparseable or before 2000: `invalid_event_time`.
- opt_out_targeting: an unusable value falls back to the setting's default (true), with a
  warning; omitting it would let Spotify use its own default, which may allow retargeting.
- Other optional fields (action_source, event_source_url, user data, content_*) that are
  unusable are omitted with a warning `TransformWarning(code, property)`; text over its
  `transform.max_length` with `too_long`.
- user_data needs ip_address, device_id, hashed_emails or hashed_phone_number (the contract's
  list; clickID and the other ids do not count): else `no_user_identifier`.
- PURCHASE needs amount and currency: `missing_amount`, `invalid_amount`, `missing_currency`,
  `invalid_currency`. Other events drop an unusable amount or currency with that warning code.
- Warning and rejection fields name the property the user sent (`$event_time`, `email`); a
  rejection about something missing names the Spotify field (`event_name`, `user_data`).
- Consent (`transform.consent`, off by default; `consent.py`): read right after the event id.
  `drop` gives `Skipped` (the event name too, when it resolves); `attribution_only` sends the
  event's fields and the four identifiers with `opt_out_targeting: true`; both `send` and
  `attribution_only` of a denied or missing consent add the warning `consent_<state>`.
- The allow-list (`transform.allowed_fields`; `allowed_fields.py`): the properties of fields that
  may not leave are taken out before they are read, so they are neither sent nor warned about.
  When that takes away every identifier the event had, `no_user_identifier` says so.
- A bug that raises inside the transform becomes the rejection `transform_error` (the type of the
  exception only, no value), so one bad record can never stop the pipeline.

Each field's rule lives in its own module (normalize.py, event_names.py, taxonomy.py, ...), called
directly here, with no second copy inline. Its native twin: native/src/prepare.rs `prepare`
and `ready` (the common case: a record sent as it is, with no warning), with `event_time`,
`opt_out`, `event_source_url`, `amount` and `currency` there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from connector.config import TransformSettings
from connector.models import (
    Accepted,
    EventDetails,
    PropertyValue,
    Rejected,
    Rejection,
    Skipped,
    SourceCoordinates,
    SpotifyEvent,
    TrackingEvent,
    TransformOutcome,
    TransformWarning,
    UserData,
    new_tuple,
)
from connector.transform import mapping as m
from connector.transform import normalize
from connector.transform.allowed_fields import FieldFilter
from connector.transform.consent import Consent, ConsentRule
from connector.transform.event_id import derive_event_id
from connector.transform.event_names import EventNames, explicit_name
from connector.transform.event_time import MIN_EVENT_TIME_MS, format_utc_ms, parse_event_time
from connector.transform.identifiers import removed, summary
from connector.transform.problems import Invalid
from connector.transform.taxonomy import CategoryResolver
from connector.transform.user_data import UserDataBuilder

T = TypeVar("T")


class _Reject(Exception):  # control flow inside this module only
    def __init__(self, reason: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.rejection = Rejection(reason, field, message)


class Transformer:
    """Built once from the settings; `transform` is then a pure function of its arguments."""

    def __init__(self, settings: TransformSettings) -> None:
        self._event_names = EventNames(settings.event_name_mapping, settings.event_name_aliases)
        limits = settings.max_length
        self._categories = CategoryResolver(
            settings.content_category_mapping, limits.content_category
        )
        self._max_event_id = limits.event_id
        self._max_url = limits.event_source_url
        self._max_content_name = limits.content_name
        self._user_data = UserDataBuilder(
            settings.default_phone_region, settings.phone_format == "e164_digits", limits
        )
        self._default_opt_out = settings.default_opt_out_targeting
        self._consent = ConsentRule(settings.consent) if settings.consent.property else None
        self._fields = FieldFilter(settings.allowed_fields)
        self._max_future_skew_ms = round(settings.max_future_skew_s * 1000)
        self._max_age_ms = (
            None if settings.max_event_age_s is None else round(settings.max_event_age_s * 1000)
        )

    def transform(
        self, event: TrackingEvent, coordinates: SourceCoordinates, now_ms: int
    ) -> TransformOutcome:
        warnings: list[TransformWarning] = []
        event_id: str | None = None
        event_name: str | None = None
        try:
            own_name, properties, record_ms = _as_given(event)
            given = properties if isinstance(properties, dict) else {}
            event_id = self._event_id(given, coordinates, warnings)
            attribution_only = False
            if self._consent is not None:
                consent = self._consent.read(given)
                action = self._consent.action(consent)
                if action == "drop":
                    return self._skipped(own_name, given, consent, event_id)
                if consent is not Consent.GRANTED:
                    warnings.append(
                        TransformWarning(f"consent_{consent.value}", self._consent.property)
                    )
                attribution_only = action == "attribution_only"
            event_name = self._event_name(own_name, given)
            props = self._fields.allowed(
                given, purchase=event_name == "PURCHASE", attribution_only=attribution_only
            )
            event_time_ms = self._event_time(record_ms, coordinates, props, now_ms, warnings)
            user_data = self._with_identifier(self._user_data.build(props, warnings), given, props)
            spotify_event: SpotifyEvent = new_tuple(
                SpotifyEvent,
                (
                    event_id,
                    event_name,
                    format_utc_ms(event_time_ms),  # event_time
                    user_data,
                    _optional(normalize.action_source, props, m.ACTION_SOURCE, warnings),
                    True if attribution_only else self._opt_out(props, warnings),
                    self._url(props, warnings),  # event_source_url
                    self._event_details(props, event_name == "PURCHASE", warnings),
                ),
            )
            identifiers = summary(user_data, warnings, removed(given, props))
        except _Reject as reject:
            if event_id is None:  # $event_id itself was refused: results key on the derived id
                event_id = derive_event_id(coordinates)
            return Rejected(reject.rejection, event_id, event_name, _unique(warnings))
        except Exception as exc:  # the safety net: a bug must not stop the pipeline
            rejection = Rejection(
                "transform_error", None, f"the transform failed ({type(exc).__name__}); a bug"
            )
            return Rejected(rejection, event_id, event_name, _unique(warnings))
        accepted: Accepted = new_tuple(
            Accepted, (spotify_event, _unique(warnings), event_time_ms, identifiers)
        )
        return accepted

    def event_name_for(self, own_name: str) -> str | None:
        """The Spotify name an event's own name resolves to (no `spotify_event_name`)."""
        return self._event_names.resolve(own_name)

    def category_for(self, value: PropertyValue) -> str | None:
        """The taxonomy id `content_category` sends for `value`, when it sends one without a
        warning; None otherwise."""
        try:
            return self._categories.resolve(value)
        except Invalid:
            return None

    def _skipped(
        self, own_name: object, props: dict[str, PropertyValue], consent: Consent, event_id: str
    ) -> Skipped:
        assert self._consent is not None  # noqa: S101 - only called under a consent rule
        try:
            event_name: str | None = self._event_name(own_name, props)
        except _Reject:
            event_name = None  # nothing is sent: an unknown name is no reason to dead-letter
        return Skipped(f"consent_{consent.value}", self._consent.property, event_id, event_name)

    def _with_identifier(
        self,
        user_data: UserData,
        given: dict[str, PropertyValue],
        allowed: dict[str, PropertyValue],
    ) -> UserData:
        """The contract: at least one of m.IDENTIFIER_FIELDS (clickID, cookie1 and the other
        ids do not count)."""
        if any(getattr(user_data, name) for name in m.IDENTIFIER_FIELDS):
            return user_data
        if allowed is not given and self._fields.removed_identifiers(given, allowed):
            raise _Reject(
                "no_user_identifier",
                "user_data",
                "no usable identifier left: transform.allowed_fields removed the ones the event "
                "had (ip_address, device_id, hashed_emails, hashed_phone_number)",
            )
        raise _Reject(
            "no_user_identifier",
            "user_data",
            "no usable ip_address ($ip), device_id ($device_id), email or phone",
        )

    def _event_name(self, own_name: object, props: dict[str, PropertyValue]) -> str:
        explicit = props.get(m.SPOTIFY_EVENT_NAME)
        if explicit is not None:
            try:
                name = explicit_name(explicit)
            except Invalid as problem:
                raise _Reject(problem.code, m.SPOTIFY_EVENT_NAME, problem.message) from None
            if name is not None:
                return name
        resolved = self._event_names.resolve(own_name) if isinstance(own_name, str) else None
        if resolved is not None:
            return resolved
        raise _Reject(
            "unknown_event_name",
            "event_name",
            "the event name is not a Spotify name or a known alias, is not mapped in "
            "transform.event_name_mapping, and spotify_event_name is not set",
        )

    def _event_id(
        self,
        props: dict[str, PropertyValue],
        coordinates: SourceCoordinates,
        warnings: list[TransformWarning],
    ) -> str:
        own = props.get(m.EVENT_ID)
        try:
            event_id = normalize.event_id(own, self._max_event_id)
        except Invalid as problem:
            # An inexact float or an overlong id was meant as the id: it cannot be sent as meant,
            # and a derived one would defeat Spotify's deduplication with the Pixel.
            if isinstance(own, float) or problem.code == "event_id_too_long":
                raise _Reject(problem.code, m.EVENT_ID, problem.message) from None
            warnings.append(TransformWarning(problem.code, m.EVENT_ID))
            event_id = None
        return event_id if event_id is not None else derive_event_id(coordinates)

    def _event_time(
        self,
        record_ms: object,
        coordinates: SourceCoordinates,
        props: dict[str, PropertyValue],
        now_ms: int,
        warnings: list[TransformWarning],
    ) -> int:
        source, epoch_ms = _event_time_source(record_ms, coordinates, props, now_ms, warnings)
        if epoch_ms < MIN_EVENT_TIME_MS:
            raise _Reject("invalid_event_time", source, "the event time is before the year 2000")
        if epoch_ms > now_ms:
            if epoch_ms - now_ms > self._max_future_skew_ms:
                raise _Reject(
                    "event_time_in_future",
                    source,
                    "the event time is further in the future than transform.max_future_skew_s",
                )
            warnings.append(TransformWarning("event_time_adjusted", source))
            epoch_ms = now_ms
        if self._max_age_ms is not None and now_ms - epoch_ms > self._max_age_ms:
            raise _Reject("too_old", source, "the event is older than transform.max_event_age_s")
        return epoch_ms

    def _opt_out(self, props: dict[str, PropertyValue], warnings: list[TransformWarning]) -> bool:
        try:
            flag = normalize.flag(props.get(m.OPT_OUT_TARGETING))
        except Invalid as problem:
            warnings.append(TransformWarning(problem.code, m.OPT_OUT_TARGETING))
            flag = None
        return self._default_opt_out if flag is None else flag

    def _url(self, props: dict[str, PropertyValue], warnings: list[TransformWarning]) -> str | None:
        url = _optional(normalize.url, props, m.EVENT_SOURCE_URL, warnings)
        if url is not None and len(url) > self._max_url:
            warnings.append(TransformWarning("too_long", m.EVENT_SOURCE_URL))
            return None
        return url

    def _event_details(
        self, props: dict[str, PropertyValue], purchase: bool, warnings: list[TransformWarning]
    ) -> EventDetails | None:
        amount: float | None
        currency: str | None
        if purchase:
            amount = _required(normalize.amount, props, m.AMOUNT)
            currency = _required(normalize.currency, props, m.CURRENCY)
        else:
            amount = _optional(normalize.amount, props, m.AMOUNT, warnings)
            currency = _optional(normalize.currency, props, m.CURRENCY, warnings)
        content_name: str | None = None
        value = props.get(m.CONTENT_NAME)
        if value is not None:
            try:
                content_name = normalize.capped_text(value, self._max_content_name)
            except Invalid as problem:
                warnings.append(TransformWarning(problem.code, m.CONTENT_NAME))
        content_category = _optional(self._categories.resolve, props, m.CONTENT_CATEGORY, warnings)
        if (
            amount is None
            and currency is None
            and content_name is None
            and content_category is None
        ):
            return None
        details: EventDetails = new_tuple(
            EventDetails, (amount, currency, content_name, content_category)
        )
        return details


def _as_given(event: tuple[object, ...]) -> tuple[object, object, object]:
    """The event's name, properties and record timestamp as given, checked where they are used.
    Not through the field names: compiled (connector/process/compiled.py), a read of a typed field
    checks the type and raises TypeError, where the transform refuses a malformed event with a
    reason."""
    return event[0], event[1], event[2]


def _event_time_source(
    record_ms: object,
    coordinates: SourceCoordinates,
    props: dict[str, PropertyValue],
    now_ms: int,
    warnings: list[TransformWarning],
) -> tuple[str, int]:
    """(where the time came from, epoch ms): $event_time, record timestamp, Kafka, now."""
    value = props.get(m.EVENT_TIME)
    if value is not None and not (isinstance(value, str) and not value.strip()):
        try:
            epoch_ms, assumed_utc = parse_event_time(value)
        except Invalid as problem:
            raise _Reject(problem.code, m.EVENT_TIME, problem.message) from None
        if assumed_utc:
            warnings.append(TransformWarning("assumed_utc", m.EVENT_TIME))
        return m.EVENT_TIME, epoch_ms
    if isinstance(record_ms, int) and not isinstance(record_ms, bool) and record_ms > 0:
        return "timestamp", record_ms
    kafka_ms = coordinates.timestamp_ms
    if isinstance(kafka_ms, int) and not isinstance(kafka_ms, bool) and kafka_ms > 0:
        return "kafka_timestamp", kafka_ms
    return "now", now_ms


def _optional(
    normalise: Callable[[PropertyValue], T | None],
    props: dict[str, PropertyValue],
    prop: str,
    warnings: list[TransformWarning],
) -> T | None:
    """An optional field: its normalised value, or None (absent, or unusable with a warning)."""
    value = props.get(prop)
    if value is None:
        return None
    try:
        return normalise(value)
    except Invalid as problem:
        warnings.append(TransformWarning(problem.code, prop))
        return None


def _required(
    normalise: Callable[[PropertyValue], T | None], props: dict[str, PropertyValue], prop: str
) -> T:
    """amount/currency of a PURCHASE: a missing or unusable one rejects the event."""
    try:
        value = normalise(props.get(prop))
    except Invalid as problem:
        raise _Reject(
            f"invalid_{prop}", prop, f"PURCHASE needs a valid {prop}: {problem.message}"
        ) from None
    if value is None:
        raise _Reject(f"missing_{prop}", prop, f"PURCHASE needs {prop}")
    return value


def _unique(warnings: list[TransformWarning]) -> tuple[TransformWarning, ...]:
    return tuple(dict.fromkeys(warnings)) if warnings else ()
