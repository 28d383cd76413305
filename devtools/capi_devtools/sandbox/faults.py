"""Misbehaviour on demand, reproducible with a seed.

Each request draws once from the decision generator, in arrival order, so a seeded run gives
the same faults to the same sequence of requests whatever the latency settings are (latency has
its own generator). Faults are decided before the request is read or validated.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from capi_devtools.sandbox.settings import FaultSettings, OutageMode

Clock = Callable[[], float]


class Fault(enum.Enum):
    RATE_LIMITED = 429  # the requests-per-second limit
    TOO_MANY_REQUESTS = 4290  # the random share of 429 answers
    SERVER_ERROR = 500
    UNAVAILABLE = 503
    DROP = 0  # close the connection without an answer


class FaultInjector:
    def __init__(self, settings: FaultSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._decisions = random.Random(settings.seed)  # noqa: S311 - not cryptography
        self._latencies = random.Random(None if settings.seed is None else settings.seed + 1)  # noqa: S311
        self._limiter = RateLimiter(settings.rps_limit, clock) if settings.rps_limit else None
        s = settings
        # Cumulative thresholds for the single draw of each request.
        self._thresholds = (
            (s.share_429, Fault.TOO_MANY_REQUESTS),
            (s.share_429 + s.share_500, Fault.SERVER_ERROR),
            (s.share_429 + s.share_500 + s.share_503, Fault.UNAVAILABLE),
            (s.share_429 + s.share_500 + s.share_503 + s.share_drop, Fault.DROP),
        )
        self._any_share = self._thresholds[-1][0] > 0

    def decide(self) -> Fault | None:
        if self._limiter is not None and not self._limiter.allow():
            return Fault.RATE_LIMITED
        if not self._any_share:
            return None
        draw = self._decisions.random()
        for threshold, fault in self._thresholds:
            if draw < threshold:
                return fault
        return None

    def latency_s(self) -> float:
        s = self.settings
        if s.latency_distribution == "fixed" or s.latency_jitter_ms == 0:
            return s.latency_ms / 1000.0
        if s.latency_distribution == "uniform":
            half = s.latency_jitter_ms
            delay_ms = self._latencies.uniform(s.latency_ms - half, s.latency_ms + half)
        else:
            delay_ms = self._latencies.gauss(s.latency_ms, s.latency_jitter_ms)
        return max(0.0, delay_ms) / 1000.0


class RateLimiter:
    """A token bucket: `rps` tokens a second, a burst of at most one second's worth."""

    def __init__(self, rps: float, clock: Clock = time.monotonic) -> None:
        self._rps = rps
        self._capacity = max(1.0, rps)
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True, slots=True)
class Outage:
    """Until `ends_at` (monotonic seconds) the API is down: connections refused, or 503."""

    mode: OutageMode
    ends_at: float

    def active(self, now: float) -> bool:
        return now < self.ends_at

    def retry_after_s(self, now: float) -> int:
        return max(0, math.ceil(self.ends_at - now))
