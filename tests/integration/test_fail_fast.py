"""Failing fast and clearly: an internal failure ends the run at once, a stop keeps to one budget,
and librdkafka speaks through the connector's JSON logs without flooding them."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from capi_devtools.sandbox import SandboxThread
from connector.assemble import build_pipeline
from connector.config import KafkaSettings, PipelineSettings, SinkSettings
from connector.pipeline import Pipeline
from connector.process.logs import configure_logging
from connector.sink import NullObserver, SinkError
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import committed_and_end_offsets, connector_topics, produce_events

pytestmark = pytest.mark.integration


class BrokenMetrics(NullObserver):
    """An observer with a bug: reporting a request raises, inside the sink's request task."""

    def on_request(self, status: int | None, events: int, seconds: float) -> None:
        raise RuntimeError("a bug in the metrics")


def _run_in_thread(
    pipeline: Pipeline, stop: threading.Event
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run(stop)
        except BaseException as exc:  # the test's to inspect
            errors.append(exc)

    thread = threading.Thread(target=run, name="connector", daemon=True)
    thread.start()
    return thread, errors


def test_a_failed_sink_task_stops_the_pipeline_within_seconds(kafka_bootstrap: str) -> None:
    topic = connector_topics(kafka_bootstrap)
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(5)))
    with SandboxThread() as sandbox:
        settings = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            pipeline=PipelineSettings(drain_timeout_s=60, revoke_timeout_s=60),
        )
        pipeline = build_pipeline(settings, sink_observers=lambda _name: BrokenMetrics())
        stop = threading.Event()  # never set: the failure alone must end the run
        started = time.monotonic()
        thread, errors = _run_in_thread(pipeline, stop)
        thread.join(30)
        took = time.monotonic() - started
        stop.set()
        thread.join(60)
        requests = sandbox.state.stats().requests_total
    assert took < 30, "the pipeline kept running after its sink task failed"
    [error] = errors
    assert isinstance(error, SinkError)
    assert isinstance(error.__cause__, RuntimeError)
    assert requests == 1  # the one request whose report failed; nothing after it
    committed, _ = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 1)
    assert committed[0] <= 0  # nothing settled, nothing committed past the first record


def test_a_stop_during_an_outage_keeps_to_the_drain_budget(kafka_bootstrap: str) -> None:
    topic = connector_topics(kafka_bootstrap)
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(20)))
    drain_s = 3.0
    with SandboxThread() as sandbox:
        sandbox.start_outage(300, mode="refuse")
        settings = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            sink=SinkSettings(max_attempts=1000, backoff_initial_s=0.05, backoff_max_s=0.5),
            pipeline=PipelineSettings(
                commit_interval_s=0.5, drain_timeout_s=drain_s, revoke_timeout_s=60
            ),
        )
        connector = ConnectorThread(settings)
        with connector:
            deadline = time.monotonic() + 60
            while connector.pipeline.status.consumed < 20 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert connector.pipeline.status.consumed == 20
            stopping = time.monotonic()
        took = time.monotonic() - stopping
    assert took < drain_s + 5, f"the stop took {took:.1f} s with a {drain_s:g} s budget"
    assert connector.results == []  # nothing settled during the outage
    committed, _ = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 1)
    assert committed[0] <= 0  # nothing committed past the first record: all redelivered


@contextmanager
def json_logs() -> Iterator[None]:
    """The connector's JSON logging (to the stderr of the moment), then the test's again."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("INFO", "json")
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_librdkafka_logs_are_json_and_repeated_errors_collapse(
    capfd: pytest.CaptureFixture[str],
) -> None:
    client_id = f"probe-{uuid.uuid4().hex[:8]}"
    settings = connector_settings(f"127.0.0.1:{_closed_port()}", "t", "http://127.0.0.1:9/x/")
    kafka = KafkaSettings(
        **{
            **settings.kafka.model_dump(),
            "client_properties": {"client.id": client_id, "reconnect.backoff.max.ms": "100"},
        }
    )
    pipeline = build_pipeline(settings.model_copy(update={"kafka": kafka}))
    stop = threading.Event()
    capfd.readouterr()
    with json_logs():
        thread, errors = _run_in_thread(pipeline, stop)
        time.sleep(5)  # a broker that does not answer: librdkafka retries every 100 ms
        stop.set()
        thread.join(60)
    err = capfd.readouterr().err
    assert errors == []
    lines = [line for line in err.splitlines() if line.strip()]
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == [], "\n".join(not_json[:40])
    entries = [json.loads(line) for line in lines]
    client_errors = [e for e in entries if e["msg"] == "kafka client error"]
    librdkafka = [e for e in entries if e["logger"] == "connector.kafka" and client_id in e["msg"]]
    assert len(client_errors) <= 2, client_errors
    assert librdkafka != []
    assert all(e["level"] in ("WARNING", "ERROR", "INFO", "DEBUG") for e in librdkafka)
