"""Which identifiers an event carries and which were dropped and why: kinds and reasons only.

What decides whether Spotify can attribute a conversion is the identifiers it carries. A result
names their kinds (`email`, `phone`, `ip`, `device_id`, `click_id`), how many e-mails, and the
identifiers dropped as `kind:reason`: `invalid`, `placeholder`, `too_long`, `not_allowed` (the
field filter took it out), or `refused` (Spotify refused the field and the sink sent the event
without it). Never a value, hashed or raw. Derived from the built `UserData` and the warnings.

Its native twin: native/src/prepare.rs `ready` (the kinds carried, as bits in `KINDS`' order of
the fields `KIND_FIELDS` names, which connector/prepare/native.py hands over) and `prepare` (the
identifier properties the allow-list took out, as bits in `IDENTIFIER_PROPERTIES`' order, which
the bridge turns into `dropped`'s answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from connector.models import Identifiers, PropertyValue, TransformWarning, UserData, new_tuple
from connector.transform import mapping as m

# The kinds, in the order results list them, and the `user_data` field that carries each.
KIND_FIELDS: Final[dict[str, str]] = {
    "email": "user_data.hashed_emails",
    "phone": "user_data.hashed_phone_number",
    "ip": "user_data.ip_address",
    "device_id": "user_data.device_id",
    "click_id": "user_data.clickID",
}
KINDS: Final[tuple[str, ...]] = tuple(KIND_FIELDS)
# The property each kind is read from.
_PROPERTY_KIND: Final[dict[str, str]] = {
    m.EMAIL: "email",
    m.PHONE: "phone",
    m.USER_IP_FIELDS[0][0]: "ip",
    m.DEVICE_ID: "device_id",
    **{prop: "click_id" for prop, attribute in m.USER_TEXT_FIELDS if attribute == "click_id"},
}
IDENTIFIER_PROPERTIES: Final[tuple[str, ...]] = tuple(_PROPERTY_KIND)
REASONS: Final[tuple[str, ...]] = ("invalid", "placeholder", "too_long", "not_allowed", "refused")
_REASON: Final = {"placeholder_identifier": "placeholder", "too_long": "too_long"}


def carried(user_data: UserData) -> tuple[str, ...]:
    kinds: list[str] = []  # in KINDS' order
    if user_data.hashed_emails:
        kinds.append("email")
    if user_data.hashed_phone_number is not None:
        kinds.append("phone")
    if user_data.ip_address is not None:
        kinds.append("ip")
    if user_data.device_id is not None:
        kinds.append("device_id")
    if user_data.click_id is not None:
        kinds.append("click_id")
    return tuple(kinds)


def dropped(
    warnings: Iterable[TransformWarning], not_allowed: Iterable[str] = ()
) -> tuple[str, ...]:
    """`kind:reason` of each identifier a warning dropped, then of those the allow-list took."""
    found: dict[str, None] = {}
    for warning in warnings:
        kind = _PROPERTY_KIND.get(warning.field)
        if kind is not None:
            found[f"{kind}:{_REASON.get(warning.code, 'invalid')}"] = None
    for prop in not_allowed:
        found[f"{_PROPERTY_KIND[prop]}:not_allowed"] = None
    return tuple(found)


_PATH_KIND: Final = {path: kind for kind, path in KIND_FIELDS.items()}


def refused(identifiers: Identifiers, removed_paths: Iterable[str]) -> Identifiers:
    """What went after Spotify refused fields (the sink's healing removed them): a removed
    kind is no longer carried but dropped as `refused`."""
    kinds = [_PATH_KIND[path] for path in removed_paths if path in _PATH_KIND]
    if not kinds:
        return identifiers
    return Identifiers(
        tuple(kind for kind in identifiers.carried if kind not in kinds),
        0 if "email" in kinds else identifiers.email_count,
        (*identifiers.dropped, *(f"{kind}:refused" for kind in kinds)),
    )


def removed(given: Mapping[str, PropertyValue], kept: Mapping[str, PropertyValue]) -> list[str]:
    """The identifier properties the event had that the field filter took out."""
    if kept is given:
        return []
    return [p for p in IDENTIFIER_PROPERTIES if given.get(p) is not None and p not in kept]


def summary(
    user_data: UserData, warnings: Sequence[TransformWarning], not_allowed: Sequence[str] = ()
) -> Identifiers:
    lost = dropped(warnings, not_allowed) if warnings or not_allowed else ()  # mostly neither
    identifiers: Identifiers = new_tuple(
        Identifiers, (carried(user_data), len(user_data.hashed_emails), lost)
    )
    return identifiers
