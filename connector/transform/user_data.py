"""The property bag → `user_data`: identifiers validated, emails and phone hashed.

An unusable value is dropped with a `TransformWarning(code, property)`; it never rejects the event
by itself (the transformer rejects when no identifier is left). A placeholder (`undefined`,
`null`, `0`, empty, all zeros, `0.0.0.0`, `::`) in `$device_id`, an IP field, `email` or
`phone` is dropped with `placeholder_identifier`. Text above its `transform.max_length` is
dropped with `too_long`. This is the hottest loop of the connector: each normaliser is called
directly (not through a partial or a callable), and each rule lives in its module only
(normalize.py, emails.py, phone.py), with its common case first there.

Its native twin: native/src/prepare.rs `apply` (a property by its rule into its field), with
`device_id`, `capped_text`, `ip`, `gender` and `hashed_phone` there.
"""

from __future__ import annotations

from typing import Any, Final

from connector.config import TextLimits
from connector.models import PropertyValue, TransformWarning, UserData, new_tuple
from connector.transform import mapping as m
from connector.transform import normalize
from connector.transform.emails import email_hashes
from connector.transform.hashing import is_sha256_hex, sha256_hex
from connector.transform.phone import to_e164
from connector.transform.problems import Invalid

# Where each attribute goes in UserData's fields.
_INDEX: Final = {attribute: index for index, attribute in enumerate(UserData._fields)}
# UserData's defaults, in field order: each build starts from a copy.
_DEFAULTS: Final = tuple(UserData._field_defaults[name] for name in UserData._fields)
_DEVICE_ID: Final = _INDEX["device_id"]
_HASHED_EMAILS: Final = _INDEX["hashed_emails"]
_HASHED_PHONE_NUMBER: Final = _INDEX["hashed_phone_number"]
_GENDER: Final = _INDEX["gender"]
_IP_FIELDS: Final = tuple((prop, _INDEX[attribute]) for prop, attribute in m.USER_IP_FIELDS)


class UserDataBuilder:
    def __init__(
        self, default_phone_region: str, phone_digits_only: bool, limits: TextLimits
    ) -> None:
        self._region = default_phone_region.upper()
        self._phone_digits_only = phone_digits_only
        self._device_id_limit = limits.device_id
        self._text_fields = tuple(
            (prop, _INDEX[attribute], getattr(limits, attribute))
            for prop, attribute in m.USER_TEXT_FIELDS
        )

    def build(self, props: dict[str, PropertyValue], warnings: list[TransformWarning]) -> UserData:
        fields: list[Any] = list(_DEFAULTS)  # UserData's fields, in order
        value = props.get(m.DEVICE_ID)
        if value is not None:
            try:
                fields[_DEVICE_ID] = normalize.device_id(value, self._device_id_limit)
            except Invalid as problem:
                warnings.append(TransformWarning(problem.code, m.DEVICE_ID))
        for prop, index, limit in self._text_fields:
            value = props.get(prop)
            if value is not None:
                try:
                    fields[index] = normalize.capped_text(value, limit)
                except Invalid as problem:
                    warnings.append(TransformWarning(problem.code, prop))
        for prop, index in _IP_FIELDS:
            value = props.get(prop)
            if value is not None:
                try:
                    fields[index] = normalize.ip_address(value)
                except Invalid as problem:
                    warnings.append(TransformWarning(problem.code, prop))
        value = props.get(m.EMAIL)
        if value is not None:
            fields[_HASHED_EMAILS] = _emails(value, warnings)
        value = props.get(m.PHONE)
        if value is not None:
            fields[_HASHED_PHONE_NUMBER] = self._phone(value, warnings)
        value = props.get(m.GENDER)
        if value is not None:
            try:
                fields[_GENDER] = normalize.gender(value)
            except Invalid as problem:
                warnings.append(TransformWarning(problem.code, m.GENDER))
        user_data: UserData = new_tuple(UserData, fields)
        return user_data

    def _phone(self, value: PropertyValue, warnings: list[TransformWarning]) -> str | None:
        candidates = (value,) if type(value) is not list else value
        for candidate in candidates:  # a list: the first usable number wins
            try:
                phone = self._hashed_phone(candidate)
            except Invalid as problem:
                warnings.append(TransformWarning(problem.code, m.PHONE))
                continue
            if phone is not None:
                return phone
        return None

    def _hashed_phone(self, value: object) -> str | None:
        raw = value.strip() if type(value) is str else normalize.text(value)  # int: its digits
        if raw is None or normalize.is_placeholder(raw):
            raise Invalid(normalize.PLACEHOLDER, "a placeholder, not a phone number")
        if len(raw) == 64 and is_sha256_hex(raw):  # hashed by the sender already
            return raw.lower()
        e164 = to_e164(raw if raw.isascii() else normalize.visible(raw), self._region)
        return sha256_hex(e164[1:] if self._phone_digits_only else e164)


def _emails(value: PropertyValue, warnings: list[TransformWarning]) -> tuple[str, ...]:
    try:
        hashes, problems = email_hashes(value)
    except Invalid as problem:
        warnings.append(TransformWarning(problem.code, m.EMAIL))
        return ()
    if problems:
        warnings.extend(TransformWarning(code, m.EMAIL) for code in problems)
    return tuple(hashes)
