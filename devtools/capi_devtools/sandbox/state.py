"""What the sandbox answered and accepted, for assertions and benchmarks.

Spotify deduplicates on `event_id`; the sandbox keeps every arrival so a test can tell a
duplicate (harmless, Spotify removes it) from a loss. The server's event loop writes; tests
read from other threads, so every access takes one short lock (once per request, not per event).
`ads` holds what the emulated Ads API remembers; `reset` and `stats` cover it too.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from capi_devtools.sandbox.ads_state import AdsState
from capi_devtools.sandbox.faults import Clock

DROPPED = "dropped"  # the key of requests_by_status for connections closed without an answer


@dataclass(frozen=True, slots=True)
class Stats:
    requests_total: int
    requests_by_status: dict[str, int]  # "200", "400", ..., "dropped"
    events_accepted: int  # every accepted event, duplicates included
    unique_event_ids: int
    busiest_second: int = 0  # the most requests that arrived within one second of the clock
    # The Ads API's (its requests are not in the counts above, which are the events endpoint's)
    ads_requests_by_status: dict[str, int] = field(default_factory=dict)
    ads_tokens_issued: int = 0
    ads_events_counted: int = 0  # counted in diagnostics: first arrival of an id, not lost
    ads_events_lost: int = 0  # accepted but lost on purpose (`ads_diagnostics_loss`)

    @property
    def duplicate_events(self) -> int:
        return self.events_accepted - self.unique_event_ids

    def to_wire(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "requests_by_status": self.requests_by_status,
            "events_accepted": self.events_accepted,
            "unique_event_ids": self.unique_event_ids,
            "duplicate_events": self.duplicate_events,
            "busiest_second": self.busiest_second,
            "ads_requests_by_status": self.ads_requests_by_status,
            "ads_tokens_issued": self.ads_tokens_issued,
            "ads_events_counted": self.ads_events_counted,
            "ads_events_lost": self.ads_events_lost,
        }


class SandboxState:
    def __init__(
        self,
        keep_bodies: bool = True,
        max_kept_bodies: int | None = None,
        ads_clock: Clock = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self.ads = AdsState(ads_clock)
        self.keep_bodies = keep_bodies
        self.max_kept_bodies = max_kept_bodies
        self._by_status: Counter[str] = Counter()
        self._events_accepted = 0
        self._id_counts: dict[str, int] = {}
        self._by_connection: dict[str, dict[str, int]] = {}  # connection id → id → arrivals
        self._bodies: dict[str, dict[str, Any]] = {}
        self._by_second: Counter[int] = Counter()  # whole epoch second → requests that arrived
        # connection id → whole epoch second → requests accepted (a connection's own pace)
        self._accepted_by_second: dict[str, Counter[int]] = {}

    # --- written by the server ------------------------------------------------------------

    def record_arrival(self, epoch_s: float) -> None:
        """A request arrived (counted per second of the wall clock, whatever it is answered)."""
        with self._lock:
            self._by_second[int(epoch_s)] += 1

    def record_response(self, status: int | str) -> None:
        with self._lock:
            self._by_status[str(status)] += 1

    def record_accepted(
        self, events: list[dict[str, Any]], connection_id: str | None = None, epoch_s: float = 0.0
    ) -> None:
        """Count a batch Spotify would have taken; called with the 200 already decided."""
        with self._lock:
            seconds = self._accepted_by_second.setdefault(connection_id or "", Counter())
            seconds[int(epoch_s)] += 1
            counts = self._id_counts
            of_connection = self._by_connection.setdefault(connection_id or "", {})
            for event in events:
                event_id = event["event_id"]
                counts[event_id] = counts.get(event_id, 0) + 1
                of_connection[event_id] = of_connection.get(event_id, 0) + 1
            self._events_accepted += len(events)
            if self.keep_bodies:
                self._keep(events)

    def _keep(self, events: list[dict[str, Any]]) -> None:
        bodies = self._bodies
        for event in events:
            event_id = event["event_id"]
            bodies.pop(event_id, None)  # re-insert: the newest arrival is the last to be forgotten
            bodies[event_id] = event
        limit = self.max_kept_bodies
        if limit is not None:
            while len(bodies) > limit:
                del bodies[next(iter(bodies))]

    # --- read by tests and the admin API --------------------------------------------------

    def stats(self) -> Stats:
        ads = self.ads.stats()
        with self._lock:
            return Stats(
                requests_total=sum(self._by_status.values()),
                requests_by_status=dict(self._by_status),
                events_accepted=self._events_accepted,
                unique_event_ids=len(self._id_counts),
                busiest_second=max(self._by_second.values(), default=0),
                ads_requests_by_status=ads.requests_by_status,
                ads_tokens_issued=ads.tokens_issued,
                ads_events_counted=ads.events_counted,
                ads_events_lost=ads.events_lost,
            )

    def requests_by_second(self, connection_id: str | None = None) -> dict[int, int]:
        """Requests that arrived in each whole second of the wall clock (epoch seconds); for a
        connection id: the requests of that connection accepted in each."""
        with self._lock:
            if connection_id is None:
                return dict(self._by_second)
            return dict(self._accepted_by_second.get(connection_id, {}))

    def accepted_ids(self, connection_id: str | None = None) -> dict[str, int]:
        """Each accepted event id with the number of times it arrived (for one connection id
        of the envelope, when given)."""
        with self._lock:
            if connection_id is None:
                return dict(self._id_counts)
            return dict(self._by_connection.get(connection_id, {}))

    def count(self, event_id: str) -> int:
        with self._lock:
            return self._id_counts.get(event_id, 0)

    def body(self, event_id: str) -> dict[str, Any] | None:
        """The last accepted event with this id, as it arrived (None if unknown or forgotten)."""
        with self._lock:
            return self._bodies.get(event_id)

    def reset(self) -> None:
        self.ads.reset()
        with self._lock:
            self._by_status.clear()
            self._events_accepted = 0
            self._id_counts.clear()
            self._by_connection.clear()
            self._bodies.clear()
            self._by_second.clear()
            self._accepted_by_second.clear()
