"""What the Ads API's dataset diagnostics count: the CAPI events the sandbox accepted.

Spotify publishes the shape only; the sandbox chooses the rest (docs/decisions.md):
- An accepted event counts once per (connection, event id): a redelivery does not count again.
  It counts under its diagnostic name (DIAGNOSTIC_NAMES) at its arrival time, read from the
  clock of the caller, not from its `event_time`.
- It shows once `delay_s` have passed since its arrival second; it is then folded into its hourly
  and daily buckets for good (a longer delay set later does not hide it again).
- Buckets start at the UTC hour and the UTC midnight; only buckets holding an event exist.
  Hourly buckets are kept 7 days, daily ones 90 days.
- Loss: the n-th new event of a (connection, CAPI name) since the losses were set is lost when
  floor(n * share) > floor((n - 1) * share): exact and repeatable (100 events at 0.1 lose 10).
  A lost event is not remembered as counted, so sending it again is a new event.
Memory: one tally per (connection, name, arrival second) until it shows, then per bucket; and
the newest `max_counted_ids` counted ids of each connection (older ones count again).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

# CAPI event name → the internal signal name diagnostics report, where the two differ; every
# other name (VIEW, PRODUCT, LEAD, PURCHASE, CUSTOM_EVENT_1..5, ...) is reported unchanged.
DIAGNOSTIC_NAMES: Mapping[str, str] = MappingProxyType(
    {"ADD_TO_CART": "ADDTOCART", "CHECK_OUT": "CHECKOUT", "SIGN_UP": "SIGNUP"}
)

Granularity = Literal["HOURLY", "DAILY"]
GRANULARITIES: tuple[Granularity, ...] = ("HOURLY", "DAILY")
BUCKET_S: Mapping[Granularity, int] = MappingProxyType({"HOURLY": 3600, "DAILY": 86400})
KEPT_BUCKETS: Mapping[Granularity, int] = MappingProxyType({"HOURLY": 7 * 24, "DAILY": 90})
MAX_COUNTED_IDS = 1_000_000  # per connection: a redelivery is rarely further back than this


def diagnostic_name(capi_name: str) -> str:
    return DIAGNOSTIC_NAMES.get(capi_name, capi_name)


@dataclass(slots=True)
class Tally:
    count: int
    first_ms: int
    last_ms: int

    def add(self, other: Tally) -> None:
        self.count += other.count
        self.first_ms = min(self.first_ms, other.first_ms)
        self.last_ms = max(self.last_ms, other.last_ms)


@dataclass(frozen=True, slots=True)
class Bucket:
    start_ms: int  # epoch milliseconds of the bucket's start
    counts: tuple[tuple[str, Tally], ...]  # by diagnostic name, sorted

    def to_wire(self) -> dict[str, Any]:
        return {
            "timestamp": self.start_ms,
            "total": sum(tally.count for _, tally in self.counts),
            "event_counts": [
                {"name": name, "event_count": tally.count, "last_activity_ms": tally.last_ms}
                for name, tally in self.counts
            ],
        }


Tallies = dict[str, Tally]  # diagnostic name → tally


@dataclass(slots=True)
class _Connection:
    pending: dict[int, Tallies] = field(default_factory=dict)  # arrival second → not yet shown
    buckets: dict[Granularity, dict[int, Tallies]] = field(
        default_factory=lambda: {granularity: {} for granularity in GRANULARITIES}
    )
    shown: Tallies = field(default_factory=dict)  # every event shown so far, by name
    counted_ids: dict[str, None] = field(default_factory=dict)  # insertion order: oldest first
    arrivals: Counter[str] = field(default_factory=Counter)  # CAPI name → new events (losses)


class DiagnosticsCounter:
    """Not thread-safe: its owner (AdsState) locks around every call."""

    def __init__(self, max_counted_ids: int = MAX_COUNTED_IDS) -> None:
        self.max_counted_ids = max_counted_ids
        self._connections: dict[str, _Connection] = {}
        self._loss: dict[str, Fraction] = {}
        self.counted = 0
        self.lost = 0

    def set_loss(self, loss: Mapping[str, float]) -> None:
        """New shares restart the arrival counts, so the first events after them are exact."""
        # A Fraction of the decimal value: 0.29 * 100 must be 29, not 28.999...
        shares = {name: Fraction(share).limit_denominator(10**6) for name, share in loss.items()}
        if shares != self._loss:
            self._loss = shares
            for connection in self._connections.values():
                connection.arrivals.clear()

    def record(self, connection_id: str, events: Iterable[Any], now: float, delay_s: float) -> None:
        """Count a batch the sandbox accepted, arriving at `now` (epoch seconds)."""
        connection = self._connections.setdefault(connection_id, _Connection())
        second, arrival_ms = math.floor(now), math.floor(now * 1000)
        for event in events:
            event_id, name = event.get("event_id"), event.get("event_name")
            if not isinstance(name, str) or event_id in connection.counted_ids:
                continue  # light validation lets a nameless event through: Spotify would not
            if self._is_lost(connection, name):
                self.lost += 1
                continue
            self._remember(connection, event_id)
            tallies = connection.pending.setdefault(second, {})
            tally = tallies.setdefault(diagnostic_name(name), Tally(0, arrival_ms, arrival_ms))
            tally.count += 1
            tally.last_ms = max(tally.last_ms, arrival_ms)
            self.counted += 1
        self._show(connection, now, delay_s, everything=False)

    def _is_lost(self, connection: _Connection, name: str) -> bool:
        share = self._loss.get(name)
        if not share:
            return False
        n = connection.arrivals[name] = connection.arrivals[name] + 1
        return math.floor(n * share) > math.floor((n - 1) * share)

    def _remember(self, connection: _Connection, event_id: str) -> None:
        ids = connection.counted_ids
        ids[event_id] = None
        if len(ids) > self.max_counted_ids:
            del ids[next(iter(ids))]

    def timeseries(
        self, connection_id: str, granularity: Granularity, now: float, delay_s: float
    ) -> list[Bucket]:
        """The buckets shown at `now`, oldest first."""
        connection = self._connections.get(connection_id)
        if connection is None:
            return []
        self._show(connection, now, delay_s, everything=True)
        buckets = connection.buckets[granularity]
        return [
            Bucket(start * 1000, tuple(sorted(buckets[start].items()))) for start in sorted(buckets)
        ]

    def shown(self, connection_id: str, now: float, delay_s: float) -> Mapping[str, Tally]:
        """Every event shown at `now`, by diagnostic name: first and last arrival, count."""
        connection = self._connections.get(connection_id)
        if connection is None:
            return {}
        self._show(connection, now, delay_s, everything=True)
        return MappingProxyType(connection.shown)

    def _show(self, connection: _Connection, now: float, delay_s: float, everything: bool) -> None:
        """Fold the seconds whose delay has passed into the buckets. With a real clock seconds
        arrive in order, so after a batch the oldest few are enough; a query looks at all."""
        pending = connection.pending
        if everything:
            due = [second for second in pending if second + delay_s <= now]
        else:
            due = list(itertools.takewhile(lambda second: second + delay_s <= now, pending))
        new_bucket = everything
        for second in due:
            for name, tally in pending.pop(second).items():
                for granularity in GRANULARITIES:
                    size = BUCKET_S[granularity]
                    buckets = connection.buckets[granularity]
                    start = second // size * size
                    new_bucket = new_bucket or start not in buckets
                    _merge(buckets.setdefault(start, {}), name, tally)
                _merge(connection.shown, name, tally)
        if new_bucket:  # buckets age out an hour at a time: no need to look on every batch
            for granularity in GRANULARITIES:
                _forget_old(connection.buckets[granularity], granularity, now)

    def reset(self) -> None:
        self._connections.clear()
        self.counted = 0
        self.lost = 0


def _merge(tallies: Tallies, name: str, tally: Tally) -> None:
    mine = tallies.get(name)
    if mine is None:
        tallies[name] = Tally(tally.count, tally.first_ms, tally.last_ms)
    else:
        mine.add(tally)


def _forget_old(buckets: dict[int, Tallies], granularity: Granularity, now: float) -> None:
    size = BUCKET_S[granularity]
    oldest_kept = (math.floor(now) // size - KEPT_BUCKETS[granularity] + 1) * size
    for start in [start for start in buckets if start < oldest_kept]:
        del buckets[start]
