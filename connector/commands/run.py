"""`spotify-capi-connector run`: consume, deliver, record outcomes, commit. Until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from connector.config import load_settings
from connector.kafka_checks import check_topics
from connector.logs import configure_logging

NAME = "run"
HELP = "run the connector: Kafka → Spotify Conversions API, until SIGTERM or Ctrl-C"

log = logging.getLogger("connector")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file (environment wins)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    settings.require_delivery()
    configure_logging(settings.telemetry.log_level, settings.telemetry.log_format)
    partitions = check_topics(settings.kafka)
    from connector.pipeline import Pipeline

    pipeline = Pipeline(settings)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info(
        "connector starting",
        extra={
            "input_topic": settings.kafka.input_topic,
            "partitions": partitions[settings.kafka.input_topic],
            "group_id": settings.kafka.group_id,
            "spotify_url": settings.spotify.url,
        },
    )
    pipeline.run(stop)
    return 0
