"""`$event_time` → epoch milliseconds, and epoch milliseconds → Spotify's UTC text.

Accepted forms:
- RFC 3339 text with any offset (`Z`, `z`, `+02:00`, `-0530`), `T`/`t`/space between date and
  time, seconds optional, any number of fraction digits (beyond microseconds is truncated).
  Text without an offset is read as UTC and reported with the warning `assumed_utc`.
- epoch seconds, milliseconds, microseconds or nanoseconds, as a number or a numeric string.
  Told apart by magnitude: below 1e11 seconds, below 1e14 milliseconds, below 1e17
  microseconds, else nanoseconds. Each unit's range spans March 1973 to the year 5138, so any
  time from 2000 on has exactly one reading. Sub-millisecond digits are cut, as for text.
Times before 2000-01-01 are rejected as `invalid_event_time`: for a conversion they can only be a
unit mistake or an unset field.

Its native twins: native/src/prepare.rs `event_time` (an epoch in ms; `MIN_EVENT_TIME_MS` is
handed over) and `format_utc_ms`.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from connector.transform.normalize import DECIMAL
from connector.transform.problems import Invalid, type_name

MIN_EVENT_TIME_MS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z
_SECONDS_BELOW: Final = 10**11
_MILLIS_BELOW: Final = 10**14
_MICROS_BELOW: Final = 10**17
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?"
)


def parse_event_time(value: object) -> tuple[int, bool]:
    """(epoch ms, whether UTC was assumed) or raise Invalid. The value is never quoted."""
    if type(value) is int and _SECONDS_BELOW <= value < _MILLIS_BELOW:  # epoch ms, the common case
        return value, False
    if isinstance(value, bool):
        raise Invalid("invalid_event_time", "expected RFC 3339 text or an epoch number, got bool")
    if isinstance(value, int):
        return _from_int(value), False
    if isinstance(value, float):
        return _from_float(value), False
    if isinstance(value, str):
        text = value.strip()
        if DECIMAL.fullmatch(text) is None:
            return _from_text(text)
        if "." in text or "e" in text or "E" in text:
            return _from_float(float(text)), False
        try:
            number = int(text)
        except ValueError:  # more digits than int() converts
            raise Invalid("invalid_event_time", "the epoch number is too long") from None
        return _from_int(number), False
    raise Invalid(
        "invalid_event_time", f"expected RFC 3339 text or an epoch number, got {type_name(value)}"
    )


# Integers and floats apart, never as `int | float`: compiled (connector/process/compiled.py), a
# value of that type is a C double, and integers past 2^53 would lose their exactness.
def _from_int(number: int) -> int:
    """Epoch s/ms/µs/ns by magnitude → ms, exactly (nanoseconds exceed 2^53)."""
    magnitude = abs(number)
    if magnitude < _SECONDS_BELOW:
        return number * 1000
    if magnitude < _MILLIS_BELOW:
        return number
    return number // (1000 if magnitude < _MICROS_BELOW else 1_000_000)


def _from_float(number: float) -> int:
    if not math.isfinite(number):
        raise Invalid("invalid_event_time", "the epoch number is not finite")
    magnitude = abs(number)
    if magnitude < _SECONDS_BELOW:
        return round(number * 1000)
    if magnitude < _MILLIS_BELOW:
        return round(number)
    return math.floor(number / (1000 if magnitude < _MICROS_BELOW else 1_000_000))


def _from_text(text: str) -> tuple[int, bool]:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise Invalid("invalid_event_time", "not RFC 3339 text nor an epoch number")
    date, clock, fraction, offset = match.groups()
    if len(clock) == 5:
        clock += ":00"
    micros = f".{fraction[:6]:0<6}" if fraction else ""
    assumed_utc = offset is None
    zone = "+00:00" if offset is None or offset in "Zz" else offset
    try:
        parsed = datetime.fromisoformat(f"{date}T{clock}{micros}{zone}")
    except ValueError:
        raise Invalid("invalid_event_time", "the date or time is out of range") from None
    delta = parsed - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000, assumed_utc


# `SS.` and `mmmZ` made once: formatting them per event cost more than the rest together.
_SECOND_TEXT: Final[tuple[str, ...]] = tuple(f"{second:02d}." for second in range(60))
_MILLI_TEXT: Final[tuple[str, ...]] = tuple(f"{millis:03d}Z" for millis in range(1000))


def format_utc_ms(epoch_ms: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC."""
    seconds = epoch_ms // 1000  # floor division: the remainders below are never negative
    minutes = seconds // 60
    return (
        _minute_prefix(minutes)
        + _SECOND_TEXT[seconds - minutes * 60]
        + _MILLI_TEXT[epoch_ms - seconds * 1000]
    )


@lru_cache(maxsize=4096)  # a stream's events crowd into few minutes: most calls are hits
def _minute_prefix(epoch_minutes: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(epoch_minutes * 60))
