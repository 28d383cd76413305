"""One normaliser per kind of property value. Each returns the value to send or raises Invalid.

`None` means "absent": a missing property, an empty or blank string. Absent is never a warning.
Messages name the expected type or rule, never the value (values can be PII).

Their native twins, each for its common case (native/src/prepare.rs): `capped_text`,
`device_id`, `ip`, `gender`, `action_source`, `event_source_url` and `url`, `opt_out` (`flag`),
`amount`, `currency`, and the event id in `ready` (`event_id`); `is_ip_address` is
native/src/ids.rs `is_ipv4`. The tables they share are handed over from here
(connector/prepare/native.py): `GENDERS`, `ACTION_SOURCES`, `ZERO_TEXT`,
`LONGEST_PLACEHOLDER_WORD`, `iso_currency_codes`.
"""

from __future__ import annotations

import math
import re
import socket
import unicodedata
from functools import cache
from typing import Final

import pycountry

from connector.transform.problems import Invalid, type_name

ACTION_SOURCES: Final = frozenset({"WEB", "APP", "OFFLINE"})
GENDERS: Final = {  # as sent, lower-cased → as Spotify reads it
    **dict.fromkeys(("m", "male", "man"), "MALE"),
    **dict.fromkeys(("f", "female", "woman"), "FEMALE"),
}
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})
_inet_pton: Final = socket.inet_pton
_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6
_URL: Final = re.compile(r"(?i:https?)://[^\s\x00-\x1f\x7f/?#][^\s\x00-\x1f\x7f]*")
# A decimal number as text (`12`, `-1.5`, `.5`, `1e9`): amounts and epoch times.
DECIMAL: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

# What tracking tools send for "no value". In an identifier it identifies no one, so it is
# dropped with this warning and does not count as the event's identifier.
PLACEHOLDER: Final = "placeholder_identifier"
PLACEHOLDER_WORDS: Final = frozenset({"undefined", "null", "none", "nil", "n/a", "unknown", "nan"})
LONGEST_PLACEHOLDER_WORD: Final = max(map(len, PLACEHOLDER_WORDS))
# Text made only of these is a placeholder: empty, `0`, the all-zero UUID / IDFA / AAID,
# the unspecified IPs `0.0.0.0` and `::`.
ZERO_TEXT: Final = "0-:. "
# Zero-width space, non-joiner and joiner, word joiner, BOM, no-break space, soft hyphen:
# invisible in a form or a spreadsheet, yet they change a hash.
_INVISIBLE: Final = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00a0\u00ad"))
_EXACT_FLOAT_LIMIT: Final = 2**53


def text(value: object) -> str | None:
    """A free-text or id field: trimmed; an integer is taken as its decimal text."""
    if type(value) is str:  # exact type first: this is the hot path of every field
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Invalid("invalid_type", f"expected a string, got {type_name(value)}")


def capped_text(value: object, limit: int) -> str | None:
    """`text`, refused (`too_long`) above `limit` characters."""
    raw = text(value)
    if raw is not None and len(raw) > limit:
        raise too_long(limit)
    return raw


def too_long(limit: int) -> Invalid:
    return Invalid("too_long", f"longer than its limit of {limit} characters")


def _placeholder() -> Invalid:
    return Invalid(PLACEHOLDER, "a placeholder, not an identifier")


def is_placeholder(trimmed: str) -> bool:
    """True for a stand-in for "no value" (`undefined`, `null`, `0`, all zeros, `::`, empty)."""
    return not trimmed.strip(ZERO_TEXT) or (
        len(trimmed) <= LONGEST_PLACEHOLDER_WORD and trimmed.lower() in PLACEHOLDER_WORDS
    )


def visible(text: str) -> str:
    """Invisible characters out, then Unicode NFC (one code point sequence per character)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text.translate(_INVISIBLE))


def device_id(value: object, limit: int) -> str | None:
    """A device or advertising id, sent raw (trimmed); a placeholder is refused."""
    raw = value.strip() if type(value) is str else text(value)
    if raw is None or is_placeholder(raw):
        raise _placeholder()
    if len(raw) > limit:
        raise too_long(limit)
    return raw


def ip_address(value: object) -> str | None:
    """An IPv4 (dotted quad) or IPv6 address, validated and sent as given (trimmed); a
    placeholder (`0.0.0.0`, `::`, `undefined`, empty) is refused."""
    raw = value.strip() if type(value) is str else text(value)
    if raw is None or is_placeholder(raw):
        raise _placeholder()
    if not is_ip_address(raw):
        raise Invalid("invalid_ip_address", "not an IPv4 or IPv6 address")
    return raw


def is_ip_address(raw: str) -> bool:
    """Strict: no leading zeros, no zone id. inet_pton is a pure conversion, no I/O."""
    try:
        _inet_pton(_AF_INET6 if ":" in raw else _AF_INET, raw)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return False
    return True


def gender(value: object) -> str | None:
    """`MALE` or `FEMALE`; anything else is not sent."""
    raw = value.strip() if type(value) is str else text(value)
    if not raw:
        return None
    mapped = GENDERS.get(raw.lower())
    if mapped is None:
        raise Invalid("invalid_gender", "expected m/male/man or f/female/woman")
    return mapped


def action_source(value: object) -> str | None:
    raw = value.strip() if type(value) is str else text(value)
    if not raw:
        return None
    upper = raw.upper()
    if upper not in ACTION_SOURCES:
        raise Invalid("invalid_action_source", "expected WEB, APP or OFFLINE")
    return upper


def flag(value: object) -> bool | None:
    """A boolean from a bool, 0/1, or the text true/false/1/0/yes/no (any case)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        if not lowered:
            return None
    raise Invalid("invalid_opt_out_targeting", "expected a boolean, 0/1 or true/false")


def url(value: object) -> str | None:
    """An absolute http(s) URL without whitespace or control characters; the scheme is
    lower-cased. The caller applies its length cap."""
    raw = value.strip() if type(value) is str else text(value)
    if not raw:
        return None
    if _URL.fullmatch(raw) is None:
        raise Invalid("invalid_url", "expected an http:// or https:// URL")
    if raw.startswith(("https://", "http://")):
        return raw
    scheme, rest = raw.split(":", 1)
    return f"{scheme.lower()}:{rest}"


def amount(value: object) -> float | None:
    """A finite, non-negative number; numeric text is accepted, booleans are not."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Invalid("invalid_amount", "expected a number, got bool")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        if DECIMAL.fullmatch(stripped) is None:
            raise Invalid("invalid_amount", "expected a number or numeric text")
        number = float(stripped)
    else:
        raise Invalid("invalid_amount", f"expected a number, got {type_name(value)}")
    if not math.isfinite(number):
        raise Invalid("invalid_amount", "the amount is not a finite number")
    if number < 0:
        raise Invalid("invalid_amount", "the amount is negative")
    return number


def currency(value: object) -> str | None:
    """An ISO 4217 code, upper-cased, that exists in the ISO list."""
    raw = value.strip() if type(value) is str else text(value)
    if not raw:
        return None
    code = raw.upper()
    if code not in iso_currency_codes():
        raise Invalid("invalid_currency", "expected an ISO 4217 currency code")
    return code


@cache
def iso_currency_codes() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


def event_id(value: object, limit: int) -> str | None:
    """The sender's event id: text, or an integer as its decimal text. A float must be an exact
    integer up to 2^53 (`12.0` → `12`): past that a double has lost digits, and two events
    could share an id. Too long: `event_id_too_long`. Both refusals reject the event."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) <= _EXACT_FLOAT_LIMIT:
            return str(int(value))
        raise Invalid(
            "invalid_event_id",
            "a number that is not an exact integer within 2^53 (digits would be lost); "
            "send the event id as text",
        )
    try:
        raw = text(value)
    except Invalid:
        raise Invalid(
            "invalid_event_id", f"expected a string or a number, got {type_name(value)}"
        ) from None
    if raw is not None and len(raw) > limit:
        raise Invalid(
            "event_id_too_long", "the event id is longer than transform.max_length.event_id"
        )
    return raw
