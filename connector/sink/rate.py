"""The request-rate cap of one connection: a token bucket in front of every request.

`sink.max_requests_per_second` (or a connection's own) fills the bucket at that rate; a request
takes one token, and waits while there is none. The bucket holds at most a twentieth of a
second's worth (one token at least), so any one second sees at most the rate plus that burst:
20 requests/s never gives a second of more than 21. Pure: the clock is an argument.
"""

from __future__ import annotations

from collections.abc import Callable

# The burst, as a share of one second's tokens: enough that a late wake-up of the event loop
# does not cost throughput at high rates, small enough that a second stays within 5 % of the cap.
BURST_SHARE = 0.05
_WHOLE = 1.0 - 1e-9  # a token, give or take the float error of adding up elapsed time


class TokenBucket:
    __slots__ = ("_capacity", "_clock", "_last", "_rate", "_tokens")

    def __init__(self, per_second: float, clock: Callable[[], float]) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be above 0")
        self._rate = per_second
        self._capacity = max(1.0, per_second * BURST_SHARE)
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()

    @property
    def per_second(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        """Requests that may leave at once after a quiet moment."""
        return self._capacity

    def take(self) -> float:
        """Take a token now and return 0.0, or take none and return the seconds until one is
        there (ask again then: another caller may have taken it meanwhile)."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= _WHOLE:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self._rate
