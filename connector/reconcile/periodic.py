"""Reconciliation inside `run`, every `ads_api.reconcile_interval_s` (off when unset).

A daemon thread: a minute after start, then every interval, the last `reconcile_window_h` hours
are reconciled by hour (the results topic read from the window's start, each connection's
diagnostics fetched) and the outcome handed to `on_outcome` (the metrics); a failure goes to
`on_failure` with a short reason and is logged in one line. Nothing here touches delivery: a
missing setting or a refused Ads API call never stops `run`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from connector.config import Settings
from connector.errors import ConnectorError
from connector.reconcile.compare import Reconciliation
from connector.reconcile.counts import bucket_of
from connector.results.formats import read_result_records

log = logging.getLogger("connector.reconcile")
_FIRST_AFTER_S = 60.0  # let the pipeline start before the first read of the results topic


class PeriodicReconciler:
    def __init__(
        self,
        settings: Settings,
        on_outcome: Callable[[Reconciliation], None],
        on_failure: Callable[[str], None],
        *,
        first_after_s: float = _FIRST_AFTER_S,
    ) -> None:
        self._settings = settings
        self._on_outcome = on_outcome
        self._on_failure = on_failure
        self._first_after_s = first_after_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconcile", daemon=True)
        self._connections = list(settings.spotify_connections())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def run_once(self) -> Reconciliation:
        from connector.reconcile.window import reconcile_window

        ads = self._settings.ads_api
        now_ms = time.time_ns() // 1_000_000
        since_ms = bucket_of(now_ms - ads.reconcile_window_h * 3_600_000, "hour")
        group = f"{self._settings.kafka.group_id}-reconcile-{uuid.uuid4().hex[:8]}"
        records = read_result_records(self._settings.kafka, since_ms, group)
        return reconcile_window(self._settings, self._connections, "hour", since_ms, records)

    def _loop(self) -> None:
        interval = self._settings.ads_api.reconcile_interval_s or 3600.0
        wait = self._first_after_s
        while not self._stop.wait(wait):
            wait = interval
            try:
                outcome = self.run_once()
            except ConnectorError as exc:  # refused, unreachable, a setting: said in one line
                log.warning("reconciliation failed", extra={"error": str(exc)})
                self._on_failure(type(exc).__name__)
                continue
            except Exception:  # never let it end the thread silently
                log.exception("reconciliation failed")
                self._on_failure("internal")
                continue
            log.info(
                "reconciled",
                extra={"gap": outcome.gap, "causes": outcome.causes, "totals": len(outcome.totals)},
            )
            self._on_outcome(outcome)
