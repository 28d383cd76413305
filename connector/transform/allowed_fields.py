"""Which Spotify fields may leave the process: contract paths → the properties that feed them.

The allow-list (`transform.allowed_fields`) and the consent rule's `attribution_only` both work
the same way: the properties feeding a field that may not leave are taken out of the property
bag before the transform reads it. A field left out is then never normalised, never sent and
never named in a warning, so a result cannot mention it either. Pure; built once.

Its native twin: native/src/prepare.rs `prepare` (the allow-list's properties, `removed` and
`removed_from_purchase`, handed over by connector/prepare/native.py; `attribution_only` is
Python's alone: the native path declines a consent that is not granted).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from connector.models import PropertyValue, user_data_key
from connector.transform import mapping as m

# Always sent, whatever the list says: the contract requires them (`user_data` needs one of the
# identifiers below), and `opt_out_targeting` protects the user: left out, Spotify's own
# default could allow retargeting.
ALWAYS_SENT: Final[tuple[str, ...]] = (
    "event_id",
    "event_name",
    "event_time",
    "opt_out_targeting",
    "user_data",
)

# Optional fields, by contract path → the property each is read from (connector/transform/mapping).
OPTIONAL_FIELDS: Final[dict[str, str]] = {
    "action_source": m.ACTION_SOURCE,
    "event_source_url": m.EVENT_SOURCE_URL,
    "event_details.amount": m.AMOUNT,
    "event_details.currency": m.CURRENCY,
    "event_details.content_name": m.CONTENT_NAME,
    "event_details.content_category": m.CONTENT_CATEGORY,
    "user_data.ip_address": "$ip",
    "user_data.device_id": m.DEVICE_ID,
    "user_data.hashed_emails": m.EMAIL,
    "user_data.hashed_phone_number": m.PHONE,
    "user_data.gender": m.GENDER,
    **{
        f"user_data.{user_data_key(attribute)}": prop
        for prop, attribute in (*m.USER_IP_FIELDS[1:], *m.USER_TEXT_FIELDS)
    },
}

IDENTIFIERS: Final[tuple[str, ...]] = tuple(f"user_data.{name}" for name in m.IDENTIFIER_FIELDS)
# A PURCHASE needs its amount and currency: they go with it even when not listed.
PURCHASE_FIELDS: Final[tuple[str, ...]] = ("event_details.amount", "event_details.currency")
# What `attribution_only` keeps: the event's own fields and the four identifiers.
ATTRIBUTION_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "action_source",
        "event_source_url",
        *(path for path in OPTIONAL_FIELDS if path.startswith("event_details.")),
        *IDENTIFIERS,
    }
)


def unknown_fields(names: Iterable[str]) -> list[str]:
    """The names that are no contract path of a field the connector sends."""
    return sorted(set(names) - set(OPTIONAL_FIELDS) - set(ALWAYS_SENT))


def check(allowed: Iterable[str] | None) -> None:
    """ValueError when `transform.allowed_fields` names a field the table does not map, or no
    identifier at all."""
    if allowed is None:
        return
    names = set(allowed)
    unknown = unknown_fields(names)
    if unknown:
        raise ValueError(
            f"unknown Spotify fields {unknown} (contract paths, e.g. user_data.clickID)"
        )
    if not set(IDENTIFIERS) & names:
        raise ValueError(
            f"allows none of the user identifiers {list(IDENTIFIERS)}: every event would be "
            "rejected (no_user_identifier)"
        )


def leaving(allowed: Iterable[str] | None) -> list[str]:
    """Every field that may leave, in contract order: the required ones, then those allowed."""
    optional = OPTIONAL_FIELDS if allowed is None else [p for p in OPTIONAL_FIELDS if p in allowed]
    return [*ALWAYS_SENT, *optional]


class FieldFilter:
    """Takes the properties of fields that may not leave out of a property bag."""

    def __init__(self, allowed: Iterable[str] | None) -> None:
        allowed_set = set(OPTIONAL_FIELDS) if allowed is None else set(allowed)
        self._removed = _properties(p for p in OPTIONAL_FIELDS if p not in allowed_set)
        self._removed_from_purchase = self._removed - _properties(PURCHASE_FIELDS)
        attribution = allowed_set & ATTRIBUTION_FIELDS
        self._attribution_removed = _properties(
            p for p in OPTIONAL_FIELDS if p not in attribution
        ) | {m.OPT_OUT_TARGETING}
        self._attribution_removed_from_purchase = self._attribution_removed - _properties(
            PURCHASE_FIELDS
        )
        self._identifier_props = _properties(IDENTIFIERS)

    @property
    def restricts(self) -> bool:
        return bool(self._removed)

    @property
    def removed(self) -> frozenset[str]:
        """The properties taken out of every event's bag (the allow-list's)."""
        return self._removed

    @property
    def removed_from_purchase(self) -> frozenset[str]:
        """Those taken out of a PURCHASE's bag, which keeps its amount and currency."""
        return self._removed_from_purchase

    def allowed(
        self, props: dict[str, PropertyValue], *, purchase: bool, attribution_only: bool = False
    ) -> dict[str, PropertyValue]:
        """The bag without the properties of fields that may not leave (the same bag if none)."""
        if attribution_only:
            removed = (
                self._attribution_removed_from_purchase if purchase else self._attribution_removed
            )
        else:
            removed = self._removed_from_purchase if purchase else self._removed
        if not removed or removed.isdisjoint(props):
            return props
        return {name: value for name, value in props.items() if name not in removed}

    def removed_identifiers(
        self, before: dict[str, PropertyValue], after: dict[str, PropertyValue]
    ) -> bool:
        """Whether an identifier's property was in the bag and the filter took it out."""
        return any(
            before.get(prop) is not None and prop not in after for prop in self._identifier_props
        )


def _properties(paths: Iterable[str]) -> frozenset[str]:
    return frozenset(OPTIONAL_FIELDS[path] for path in paths)
