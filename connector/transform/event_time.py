"""`$event_time` → epoch milliseconds, and epoch milliseconds → Spotify's UTC text.

Accepted forms:
- RFC 3339 text with any offset (`Z`, `z`, `+02:00`, `-0530`), `T`/`t`/space between date and
  time, seconds optional, any number of fraction digits (beyond microseconds is truncated).
  Text without an offset is read as UTC and reported with the warning `assumed_utc`.
- epoch milliseconds or seconds, as a number or a numeric string. Told apart by magnitude:
  below 1e11 it is seconds (1e11 s is the year 5138; 1e11 ms is March 1973).
Times before 2000-01-01 are rejected as `invalid_event_time`: for a conversion they can only be a
unit mistake or an unset field.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from functools import lru_cache

from connector.transform.problems import Invalid, type_name

MIN_EVENT_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
_SECONDS_BELOW = 1e11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?"
)
_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse_event_time(value: object) -> tuple[int, bool]:
    """(epoch ms, whether UTC was assumed) or raise Invalid. The value is never quoted."""
    if type(value) is int and value >= _SECONDS_BELOW:  # epoch ms, the common case
        return value, False
    if isinstance(value, bool):
        raise Invalid("invalid_event_time", "expected RFC 3339 text or epoch ms/s, got bool")
    if isinstance(value, int | float):
        return _from_number(value), False
    if isinstance(value, str):
        text = value.strip()
        if _NUMERIC.fullmatch(text) is not None:
            return _from_number(_number(text)), False
        return _from_text(text)
    raise Invalid(
        "invalid_event_time", f"expected RFC 3339 text or epoch ms/s, got {type_name(value)}"
    )


def _number(text: str) -> int | float:
    try:
        return float(text) if "." in text or "e" in text or "E" in text else int(text)
    except ValueError:  # more digits than int() converts
        raise Invalid("invalid_event_time", "the epoch number is too long") from None


def _from_number(number: int | float) -> int:
    scaled = number if abs(number) >= _SECONDS_BELOW else number * 1000
    if not math.isfinite(scaled):
        raise Invalid("invalid_event_time", "the epoch number is not finite")
    return round(scaled)


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


def format_utc_ms(epoch_ms: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC."""
    seconds, millis = divmod(epoch_ms, 1000)
    minutes, second = divmod(seconds, 60)
    return f"{_minute_prefix(minutes)}{second:02d}.{millis:03d}Z"


@lru_cache(maxsize=4096)  # a stream's events crowd into few minutes: most calls are hits
def _minute_prefix(epoch_minutes: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(epoch_minutes * 60))
