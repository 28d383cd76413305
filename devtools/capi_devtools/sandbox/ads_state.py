"""What the emulated Ads API remembers: diagnostics counts, issued access tokens, throttling.

The server's event loop writes (the CAPI endpoint counts, the Ads API issues and checks tokens);
tests read from other threads: one short lock per call. Every time here comes from one clock,
injectable, so a test moves arrival times, the diagnostics delay and token expiry at will.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from capi_devtools.sandbox.diagnostics import (
    Bucket,
    DiagnosticsCounter,
    Granularity,
    Tally,
)
from capi_devtools.sandbox.faults import Clock


@dataclass(frozen=True, slots=True)
class AdsStats:
    requests_by_status: dict[str, int]  # token, dataset and diagnostics requests
    tokens_issued: int
    events_counted: int  # accepted CAPI events counted in diagnostics (first arrival, not lost)
    events_lost: int  # accepted CAPI events lost on purpose (`ads_diagnostics_loss`)


class AdsState:
    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._counter = DiagnosticsCounter()
        self._tokens: dict[str, float] = {}  # access token → expiry (clock seconds)
        self._tokens_issued = 0
        self._by_status: Counter[str] = Counter()
        self._throttled_left = 0
        self._retry_after_s = 0

    # --- written by the server ------------------------------------------------------------

    def record_accepted(self, connection_id: str, events: Iterable[Any], delay_s: float) -> None:
        with self._lock:
            self._counter.record(connection_id, events, self.clock(), delay_s)

    def set_loss(self, loss: Mapping[str, float]) -> None:
        with self._lock:
            self._counter.set_loss(loss)

    def issue_token(self, ttl_s: float) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._tokens = {t: ends for t, ends in self._tokens.items() if ends > now}
            self._tokens[token] = now + ttl_s
            self._tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        with self._lock:
            ends = self._tokens.get(token)
            return ends is not None and self.clock() < ends

    def throttle(self, requests: int, retry_after_s: int) -> None:
        """Answer the next `requests` Ads API requests with 429 and `Retry-After`."""
        if requests < 0 or retry_after_s < 0:
            raise ValueError("requests and retry_after_s must be at least 0")
        with self._lock:
            self._throttled_left = requests
            self._retry_after_s = retry_after_s

    def take_throttle(self) -> int | None:
        """Retry-After seconds if this request is throttled, else None."""
        with self._lock:
            if self._throttled_left <= 0:
                return None
            self._throttled_left -= 1
            return self._retry_after_s

    def record_response(self, status: int) -> None:
        with self._lock:
            self._by_status[str(status)] += 1

    # --- read by the Ads API, tests and the admin API -------------------------------------

    def timeseries(
        self, connection_id: str, granularity: Granularity, delay_s: float
    ) -> list[Bucket]:
        with self._lock:
            return self._counter.timeseries(connection_id, granularity, self.clock(), delay_s)

    def shown(self, connection_id: str, delay_s: float) -> tuple[dict[str, Tally], float]:
        """Every event of the connection shown now, by diagnostic name; and now."""
        with self._lock:
            now = self.clock()
            shown = self._counter.shown(connection_id, now, delay_s)
            return {name: Tally(t.count, t.first_ms, t.last_ms) for name, t in shown.items()}, now

    def stats(self) -> AdsStats:
        with self._lock:
            return AdsStats(
                requests_by_status=dict(self._by_status),
                tokens_issued=self._tokens_issued,
                events_counted=self._counter.counted,
                events_lost=self._counter.lost,
            )

    def reset(self) -> None:
        """Forget counts, counted ids, issued tokens and throttled answers still to come."""
        with self._lock:
            self._counter.reset()
            self._tokens.clear()
            self._tokens_issued = 0
            self._by_status.clear()
            self._throttled_left = 0
