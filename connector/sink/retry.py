"""The retry policy, pure: what an answer means, and how long to wait before trying again.

Spotify publishes no rate limit and no Retry-After behaviour, so the rules are the usual ones:
honour `Retry-After` on 429 and 503, otherwise back off exponentially with full jitter
(a uniform delay between 0 and the exponential ceiling, so that senders spread out).
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

# A longer Retry-After is cut to this: a misbehaving proxy must not park a batch for days.
MAX_RETRY_AFTER_S = 600.0
RETRY_AFTER_STATUSES = frozenset({429, 503})


class Verdict(enum.Enum):
    """What the sink does with a batch after an answer."""

    DELIVERED = "delivered"  # 2xx
    RETRY = "retry"  # 408, 429, 5xx, anything unexpected, timeouts, connection errors
    BISECT = "bisect"  # 400: some event is bad, find it by halving
    SHRINK = "shrink"  # 413: the batch is too large, halve it and lower the batch size
    REJECT = "reject"  # other 4xx: the payload is wrong, do not send it again
    AUTH = "auth"  # 401/403: the token or connection id is wrong, not the events


_VERDICT_BY_STATUS = {
    400: Verdict.BISECT,
    401: Verdict.AUTH,
    403: Verdict.AUTH,
    408: Verdict.RETRY,
    413: Verdict.SHRINK,
    429: Verdict.RETRY,
}


def classify_status(status: int) -> Verdict:
    verdict = _VERDICT_BY_STATUS.get(status)
    if verdict is not None:
        return verdict
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if 400 <= status < 500:
        return Verdict.REJECT
    # 5xx; and 1xx/3xx, which a proxy or a wrong URL answered, not Spotify: retrying is safe.
    return Verdict.RETRY


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delay-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now_s)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


def _seconds_until_http_date(text: str, now_s: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition; read a zone-less one as such
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now_s), MAX_RETRY_AFTER_S)


def backoff_ceiling(failures: int, initial_s: float, max_s: float) -> float:
    """The upper bound of the n-th backoff (failures >= 1): initial * 2^(n-1), capped at max."""
    exponent = min(max(failures, 1) - 1, 60)  # 2^60 is past any sane cap; avoids overflow
    return min(max_s, initial_s * float(2**exponent))


def full_jitter(failures: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    return rng.uniform(0.0, backoff_ceiling(failures, initial_s, max_s))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float

    def exhausted(self, failures: int) -> bool:
        return failures >= self.max_attempts

    def delay(
        self,
        failures: int,
        rng: random.Random,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        now_s: float = 0.0,
    ) -> float:
        """Wait before the next attempt, after `failures` failed attempts of the same batch."""
        if status in RETRY_AFTER_STATUSES:
            honoured = parse_retry_after(retry_after, now_s)
            if honoured is not None:
                return honoured
        return full_jitter(failures, self.backoff_initial_s, self.backoff_max_s, rng)


def retry_cause(status: int | None, transport_cause: str | None = None) -> str:
    """A short label for metrics: `http_429`, `http_503`, `timeout`, `connection`."""
    if status is not None:
        return f"http_{status}"
    return transport_cause or "connection"
