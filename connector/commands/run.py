"""`spotify-capi-connector run`: consume, deliver, record outcomes, commit. Until SIGTERM/SIGINT.

Telemetry and the health server start first, so the probes answer (not ready) while Kafka is
checked and the pipeline starts; readiness turns to `stopping` as soon as a stop is requested.
An internal failure (a sink task, the HTTP or health thread) stops the run with exit 1 and a
log line naming it, so the orchestrator restarts the pod rather than keep a silent one.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from connector.config import display_url
from connector.errors import ConfigError
from connector.kafka.admin import check_topics
from connector.process.compiled import compiled
from connector.process.gc_tuning import tune_for_streaming
from connector.process.logs import configure_logging

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.observe.health import HealthState
    from connector.observe.telemetry import Telemetry
    from connector.reconcile.periodic import PeriodicReconciler

NAME = "run"
HELP = "run the connector: Kafka → Spotify Conversions API, until SIGTERM or Ctrl-C"

log = logging.getLogger("connector")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file (environment wins)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes in the consumer group (one core each); health ports follow the first",
    )


def run(args: argparse.Namespace) -> int:
    from connector.assemble import load_settings  # the parts judge what only they can

    settings = load_settings(args.config)
    settings.require_delivery()  # a token no header can carry is a setting error too, exit 2
    configure_logging(settings.telemetry.log_level, settings.telemetry.log_format)
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if args.workers > 1:
        from connector.process.workers import supervise

        config_args = ["--config", str(args.config)] if args.config else []
        return supervise(args.workers, config_args, settings.telemetry.health_port)
    from connector.observe.health import HealthServer, HealthState
    from connector.observe.telemetry import Telemetry

    telemetry = Telemetry(settings)
    health = HealthState(
        settings.telemetry.stall_timeout_s,
        liveness_timeout_s=settings.telemetry.liveness_timeout_s,
    )
    stop = threading.Event()
    failures: list[BaseException] = []

    def fail(failure: BaseException) -> None:
        """The health server's thread failed (it logged why): stop, and exit 1 once drained."""
        failures.append(failure)
        health.stopping()
        stop.set()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        health.stopping()
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    reconciler = start_reconciler(settings, telemetry)
    try:
        with HealthServer(settings.telemetry, health, telemetry.scrape, on_failure=fail):
            consume(settings, telemetry, health, stop)
    finally:
        if reconciler is not None:
            reconciler.stop()
        telemetry.shutdown()
    return 1 if failures else 0


def start_reconciler(settings: Settings, telemetry: Telemetry) -> PeriodicReconciler | None:
    """Reconcile with Spotify's counts every `ads_api.reconcile_interval_s`, when set. Missing
    Ads API settings are one error line: delivery goes on without reconciliation."""
    if settings.ads_api.reconcile_interval_s is None:
        return None
    from connector.reconcile.metrics import ReconcileMetrics
    from connector.reconcile.periodic import PeriodicReconciler

    missing = settings.ads_api.missing(list(settings.spotify_connections()))
    if missing:
        log.error("reconciliation off: ads_api settings missing", extra={"missing": missing})
        return None
    metrics = ReconcileMetrics(telemetry.meter_provider.get_meter("connector.reconcile"))
    reconciler = PeriodicReconciler(settings, metrics.on_outcome, metrics.on_failure)
    reconciler.start()
    return reconciler


def consume(
    settings: Settings, telemetry: Telemetry, health: HealthState, stop: threading.Event
) -> None:
    """Check the topics, then run the pipeline with metrics and readiness until `stop`."""
    partitions = check_topics(settings.kafka)
    from connector.assemble import build_pipeline

    pipeline = build_pipeline(
        settings,
        sink_observers=telemetry.sink_observer_for,
        on_results=telemetry.on_results,
        on_produce_error=telemetry.on_produce_error,
        trace_configs=telemetry.trace_configs(),
        tracer_provider=telemetry.tracer_provider,
    )
    telemetry.watch(pipeline.status)
    log.info(
        "connector starting",
        extra={
            "input_topic": settings.kafka.input_topic,
            "partitions": sum(partitions[t] for t in settings.kafka.named_input_topics),
            "connections": sorted(settings.spotify_connections()),
            "group_id": settings.kafka.group_id,
            "spotify_url": display_url(settings.spotify.url),
            "compiled": compiled(),  # the mypyc build of the per-record modules, or their sources
            "prepare_processes": pipeline.prepare.processes,
            "native_prepare": pipeline.prepare.native,  # the Rust path for the common case
            # Per input and setting, which path prepares and why (connector/prepare/choice.py).
            "prepare": pipeline.prepare.describe(),
        },
    )
    health.running(pipeline.status)
    tune_for_streaming()
    try:
        pipeline.run(stop)
    finally:
        health.stopping()
