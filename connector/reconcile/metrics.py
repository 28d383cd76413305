"""The periodic reconciliation's metrics: the last successful run's totals and every run's outcome.

The gauges hold the last successful run's values (a failed run leaves them, so the gap alert
sees the last known gap and the failing alert sees `last_success` age); the runs counter has
both outcomes from the start (0) so a rate over it exists before the first run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from connector.reconcile.compare import Reconciliation

OUTCOMES = ("ok", "failed")


class ReconcileMetrics:
    def __init__(self, meter: Meter, clock_s: Callable[[], float] = time.time) -> None:
        self._clock_s = clock_s
        self._lock = threading.Lock()  # written by the reconcile thread, read at scrape time
        self._runs = dict.fromkeys(OUTCOMES, 0)
        self._last_success_s: float | None = None
        # (connection, event name) → (gap ratio, delivered, counted) of the last success
        self._totals: dict[tuple[str, str], tuple[float, int, int]] = {}
        per_name = "per connection and event name, over the compared hours of the window"
        meter.create_observable_gauge(
            "spotify_capi.reconcile.gap_ratio",
            [self._total(0)],
            "1",
            f"(delivered - counted) / delivered {per_name} (last successful reconciliation)",
        )
        meter.create_observable_gauge(
            "spotify_capi.reconcile.delivered",
            [self._total(1)],
            "{event}",
            f"Events delivered {per_name}",
        )
        meter.create_observable_gauge(
            "spotify_capi.reconcile.counted",
            [self._total(2)],
            "{event}",
            f"Events Spotify's dataset diagnostics counted {per_name}",
        )
        meter.create_observable_counter(
            "spotify_capi.reconcile.runs",
            [self._observe_runs],
            "{run}",
            "Periodic reconciliations, by outcome (ok, failed)",
        )
        meter.create_observable_gauge(
            "spotify_capi.reconcile.last_success",
            [self._observe_last_success],
            "s",
            "When a reconciliation last succeeded (unix time)",
        )

    def on_outcome(self, outcome: Reconciliation) -> None:
        totals = {
            (t.connection, t.event_name): (t.gap_ratio, t.delivered, t.counted)
            for t in outcome.totals
        }
        with self._lock:
            self._runs["ok"] += 1
            self._last_success_s = self._clock_s()
            self._totals = totals

    def on_failure(self, _reason: str) -> None:
        with self._lock:
            self._runs["failed"] += 1

    def _total(self, index: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                totals = list(self._totals.items())
            return [
                Observation(values[index], {"connection": c, "spotify_capi.event_name": name})
                for (c, name), values in totals
            ]

        return observe

    def _observe_runs(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(n, {"outcome": o}) for o, n in self._runs.items()]

    def _observe_last_success(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            last = self._last_success_s
        return [] if last is None else [Observation(last)]
