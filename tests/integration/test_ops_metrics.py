"""Operations on a real run (real broker, sandbox over HTTP): /metrics counts what was sent,
/readyz follows a refused token, and no email or phone leaks into logs, metrics or results."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from capi_devtools.sandbox import DEFAULT_TOKEN, SandboxThread
from capi_devtools.sandbox.settings import FaultSettings, SandboxSettings
from connector.commands.run import consume
from connector.config import Settings, SinkSettings, TelemetrySettings
from connector.kafka.results import ResultWriteError
from connector.observe.health import HealthServer, HealthState
from connector.observe.telemetry import Telemetry
from connector.process.logs import JsonFormatter
from connector.schemas import avro
from tests.chart.helm import FULL_VALUES, Chart, find_helm
from tests.chart.shipped_metrics import connector_metrics, dashboard, dashboard_exprs, rule_exprs
from tests.support.connector import connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import create_topics, produce, read_all

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _topics(bootstrap: str, partitions: int, results_max_bytes: int | None = None) -> str:
    """An input topic and its `-results` and `-dlq` topics; `results_max_bytes` sets the results
    topic's max.message.bytes (the broker then refuses larger batches)."""
    name = f"ops-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, name, partitions=partitions)
    create_topics(bootstrap, f"{name}-dlq", partitions=1)
    config = {} if results_max_bytes is None else {"max.message.bytes": str(results_max_bytes)}
    create_topics(bootstrap, f"{name}-results", partitions=1, config=config)
    return name


class RunningConnector:
    """What `run` does (telemetry, health server, consume) on a thread, probes on a free port."""

    def __init__(self, settings: Settings, stall_timeout_s: float = 300.0) -> None:
        telemetry_settings = TelemetrySettings(
            health_host="127.0.0.1", health_port=0, stall_timeout_s=stall_timeout_s
        )
        self.settings = settings.model_copy(update={"telemetry": telemetry_settings})
        self.telemetry = Telemetry(self.settings)
        self.health = HealthState(stall_timeout_s)
        self.server = HealthServer(telemetry_settings, self.health, self.telemetry.scrape)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="connector", daemon=True)

    def _run(self) -> None:
        try:
            consume(self.settings, self.telemetry, self.health, self._stop)
        except BaseException as exc:  # surfaced by __exit__
            self._error = exc

    def __enter__(self) -> RunningConnector:
        self.server.start()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(60)
        self.server.stop()
        self.telemetry.shutdown()
        assert not self._thread.is_alive(), "the pipeline did not stop"
        if self._error is not None and exc is None:
            raise self._error

    def failure(self, timeout_s: float = 60.0) -> BaseException | None:
        """Wait for the run to stop on its own; its failure, taken (so __exit__ does not raise)."""
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the run did not stop"
        error, self._error = self._error, None
        return error

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"{self.server.url}{path}", timeout=5) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def metrics(self) -> Samples:
        status, body = self.get("/metrics")
        assert status == 200
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples
        }

    def readiness(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/readyz")
        return status, json.loads(body)

    def wait_until(self, what: str, check: Callable[[], bool], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._error is not None:
                raise self._error
            if check():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_settled(self, count: int) -> None:
        """Until the metrics count `count` records delivered or dead-lettered."""

        def settled() -> bool:
            samples = self.metrics()
            return (
                total(samples, "spotify_capi_events_delivered_total")
                + total(samples, "spotify_capi_events_dead_lettered_total")
                >= count
            )

        self.wait_until("every record settled", settled)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def test_metrics_count_what_was_sent(kafka_bootstrap: str) -> None:
    topic = _topics(kafka_bootstrap, partitions=2)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    values: list[bytes | None] = [avro.encode(schema, tracking_record(i)) for i in range(60)]
    for bad in (5, 17, 33):
        values[bad] = avro.encode(schema, tracking_record(bad, spotify_event_name="DANCE"))
    values[40] = b"\x07 not avro"
    produce(kafka_bootstrap, topic, values, partitions=2)
    with SandboxThread() as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with RunningConnector(settings) as connector:
            connector.wait_settled(60)
            connector.wait_until(
                "lag refreshed to zero",
                lambda: (
                    value(
                        connector.metrics(),
                        "spotify_capi_consumer_lag",
                        messaging_destination_name=topic,
                        messaging_destination_partition_id="1",
                    )
                    == 0
                    and total(connector.metrics(), "spotify_capi_consumer_lag") == 0
                    and len([k for k in connector.metrics() if k[0] == "spotify_capi_consumer_lag"])
                    == 2
                ),
            )
            m = connector.metrics()
            ready_status, ready = connector.readiness()
        stats = sandbox.state.stats()
    consumed = {
        "messaging_system": "kafka",
        "messaging_destination_name": topic,
        "messaging_consumer_group_name": settings.kafka.group_id,
    }
    assert value(m, "messaging_client_consumed_messages_total", **consumed) == 60
    delivered = "spotify_capi_events_delivered_total"
    assert value(m, delivered, spotify_capi_event_name="PURCHASE") == 56
    assert total(m, delivered) == 56
    transform = {"spotify_capi_status": "REJECTED_TRANSFORM", "error_type": "invalid_event_name"}
    undecodable = {"spotify_capi_status": "UNDECODABLE", "error_type": "invalid_avro"}
    for name in ("spotify_capi_events_rejected_total", "spotify_capi_events_dead_lettered_total"):
        assert value(m, name, **transform) == 3
        assert value(m, name, **undecodable) == 1
        assert total(m, name) == 4
    requests = stats.requests_by_status["200"]
    default = {"connection": "default"}
    assert value(
        m, "spotify_capi_http_responses_total", http_response_status_class="2xx", **default
    ) == (requests)
    assert total(m, "spotify_capi_http_responses_total") == stats.requests_total
    spotify = urlsplit(str(settings.spotify.url))
    server = {"server_address": str(spotify.hostname), "server_port": str(spotify.port)}
    ok = {"http_request_method": "POST", "http_response_status_code": "200", **default, **server}
    assert value(m, "http_client_request_duration_seconds_count", **ok) == requests
    assert value(m, "spotify_capi_batch_size_sum") == 56 == stats.events_accepted
    assert value(m, "spotify_capi_batch_size_count") == requests
    assert value(m, "spotify_capi_delivery_latency_seconds_count") == 56
    assert value(m, "spotify_capi_event_delivery_delay_seconds_count") == 56
    assert total(m, "spotify_capi_requests_retried_total") == 0
    assert value(m, "spotify_capi_events_in_flight") == 0
    assert value(m, "spotify_capi_partitions_assigned") == 2
    assert value(m, "spotify_capi_partitions_paused") == 0
    assert value(m, "spotify_capi_auth_failing", **default) == 0
    assert (ready_status, ready["ready"], ready["failing"]) == (200, True, [])


def test_every_metric_the_dashboard_and_the_alerts_query_is_exposed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A run with a bad record and Spotify answering some 429s and 500s exposes every series
    the shipped dashboard and PrometheusRule read (a renamed metric fails here)."""
    helm = find_helm()
    assert helm is not None, "helm not found: run `bash scripts/install-helm.sh`"
    rules = rule_exprs(Chart(helm, tmp_path).render(None, FULL_VALUES))
    wanted = connector_metrics(dashboard_exprs(dashboard())) | connector_metrics(rules)
    topic = _topics(kafka_bootstrap, partitions=1)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    values: list[bytes | None] = [avro.encode(schema, tracking_record(i)) for i in range(40)]
    values[7] = b"\x07 not avro"
    produce(kafka_bootstrap, topic, values)
    faults = FaultSettings(seed=5, share_429=0.2, share_500=0.2, retry_after_s=0)
    with SandboxThread(SandboxSettings(faults=faults)) as sandbox:
        settings = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            sink=SinkSettings(batch_size=1, backoff_initial_s=0.01, backoff_max_s=0.05),
        )
        with RunningConnector(settings) as connector:
            connector.wait_settled(40)
            # The lag and commits come with the commit interval: wait for them, within bounds.
            connector.wait_until(
                "every queried metric exposed",
                lambda: wanted <= {name for name, _ in connector.metrics()},
                timeout_s=30,
            )
            exposed = {name for name, _ in connector.metrics()}
            durations = {
                frozenset(labels)
                for name, labels in connector.metrics()
                if name == "http_client_request_duration_seconds_count"
            }
            text = connector.get("/metrics")[1].decode()
    assert len(wanted) >= 15
    assert "spotify_capi_results_produce_errors_total" in wanted
    assert wanted - exposed == set()
    codes = {dict(labels).get("http_response_status_code") for labels in durations}
    assert {"200", "429", "500"} <= codes  # the label values the 429 and 5xx panels select
    # The semantic conventions: error.type on error answers only, and no empty label anywhere.
    error_types = {
        dict(labels)["http_response_status_code"]: dict(labels).get("error_type")
        for labels in durations
    }
    assert (error_types["200"], error_types["429"], error_types["500"]) == (None, "429", "500")
    assert '=""' not in text


def test_a_result_the_broker_refuses_is_counted_before_the_run_stops(kafka_bootstrap: str) -> None:
    """A results topic whose max.message.bytes no result fits: the broker refuses the write, the
    run stops with one message naming it, and /metrics (still served) counts the refusals."""
    topic = _topics(kafka_bootstrap, partitions=1, results_max_bytes=64)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    with SandboxThread() as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with RunningConnector(settings) as connector:
            before = connector.metrics()
            # Produced after the first scrape, not before the start: however fast the run, no
            # result can have been refused yet when `before` was read.
            produce(
                kafka_bootstrap, topic, [avro.encode(schema, tracking_record(i)) for i in range(3)]
            )
            failure = connector.failure()
            after = connector.metrics()
        accepted = sandbox.state.accepted_ids()
    name = "spotify_capi_results_produce_errors_total"
    assert value(before, name, spotify_capi_topic_role="results") == 0
    assert value(before, name, spotify_capi_topic_role="dead_letter") == 0
    assert isinstance(failure, ResultWriteError)
    assert str(failure).startswith(
        f"could not write a result record to {topic}-results: MSG_SIZE_TOO_LARGE ("
    )
    refused = value(after, name, spotify_capi_topic_role="results", error_type="MSG_SIZE_TOO_LARGE")
    assert 1 <= refused <= 3  # each refused record once; the run stops at the first refusal
    assert total(after, name) == refused
    assert len(accepted) == 3  # Spotify has them; without their results none counts as settled
    assert total(after, "spotify_capi_events_delivered_total") == 0


def test_readyz_goes_not_ready_on_a_refused_token_and_back(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    topic = _topics(kafka_bootstrap, partitions=1)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    produce(kafka_bootstrap, topic, [avro.encode(schema, tracking_record(i)) for i in range(20)])
    with SandboxThread() as sandbox:
        sandbox.configure(tokens=["a-token-the-connector-does-not-have"])
        settings = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            sink=SinkSettings(backoff_initial_s=0.05, auth_retry_interval_s=0.3),
        )
        with RunningConnector(settings) as connector:
            connector.wait_until(
                "the refused token seen",
                lambda: connector.readiness()[1]["failing"] == ["spotify_auth"],
            )
            ready_status, body = connector.readiness()
            refused = connector.metrics()
            sandbox.configure(tokens=[DEFAULT_TOKEN])
            connector.wait_until(
                "all delivered",
                lambda: total(connector.metrics(), "spotify_capi_events_delivered_total") == 20,
            )
            connector.wait_until("ready again", lambda: connector.readiness()[0] == 200)
            after = connector.metrics()
    assert (ready_status, body["ready"], body["failing"]) == (503, False, ["spotify_auth"])
    assert body["checks"]["spotify_auth"]["ok"] is False
    default = {"connection": "default"}
    assert value(refused, "spotify_capi_auth_failing", **default) == 1
    assert value(refused, "spotify_capi_partitions_paused") == 1
    assert total(refused, "spotify_capi_events_delivered_total") == 0
    assert (
        value(
            refused,
            "spotify_capi_http_responses_total",
            http_response_status_class="4xx",
            **default,
        )
        >= 1
    )
    assert value(after, "spotify_capi_auth_failing", **default) == 0
    assert value(after, "spotify_capi_auth_failures_total", **default) == 1
    assert value(after, "spotify_capi_partitions_paused") == 0
    assert set(sandbox.state.accepted_ids()) == {f"order-{i:07d}" for i in range(20)}
    # One line per notable event, never one per record.
    lines = [
        r.getMessage() for r in caplog.records if not r.name.startswith("capi_devtools.sandbox")
    ]
    for start in (
        "connector starting",
        "partitions assigned",
        "pausing partitions",
        "resuming partitions",
        "Spotify refused the token",
        "Spotify accepts the token again",
        "pipeline stopped",
    ):
        assert sum(line.startswith(start) for line in lines) == 1, start
    assert len(lines) < 20


CANARY_EMAIL = "Zed.Canary-7731@Example.org"
CANARY_PHONE = "+1 (415) 555-0199"


def _canary_forms() -> list[str]:
    email = CANARY_EMAIL.strip().lower()
    e164 = "+14155550199"
    forms = [CANARY_EMAIL, email, "Zed.Canary-7731", "zed.canary-7731", e164, "4155550199"]
    forms += [hashlib.sha256(text.encode()).hexdigest() for text in (email, e164, e164[1:])]
    return forms


def test_no_email_or_phone_in_logs_metrics_or_results(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    topic = _topics(kafka_bootstrap, partitions=1)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    canary = {"email": CANARY_EMAIL, "phone": CANARY_PHONE}
    values = [
        avro.encode(schema, tracking_record(0, **canary)),  # delivered
        avro.encode(schema, tracking_record(1, spotify_event_name="DANCE", **canary)),  # rejected
        avro.encode(schema, tracking_record(2, email=CANARY_EMAIL, phone="not a phone 0199")),
        avro.encode(
            schema, tracking_record(3, email=f"{CANARY_EMAIL}, broken@", phone=CANARY_PHONE)
        ),
    ]
    produce(kafka_bootstrap, topic, values)
    caplog.set_level(logging.DEBUG)
    with SandboxThread() as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with RunningConnector(settings) as connector:
            connector.wait_until(
                "four records settled",
                lambda: (
                    total(connector.metrics(), "spotify_capi_events_delivered_total")
                    + total(connector.metrics(), "spotify_capi_events_dead_lettered_total")
                    >= 4
                ),
            )
            metrics_text = connector.get("/metrics")[1].decode()
            readiness_text = connector.get("/readyz")[1].decode()
        accepted = sandbox.state.accepted_ids()
    assert len(accepted) >= 2  # the canary reached Spotify, hashed, so the check is meaningful
    results = read_all(kafka_bootstrap, f"{topic}-results", 4)
    assert len(results) == 4
    formatter = JsonFormatter()
    connector_lines = [
        formatter.format(r)
        for r in caplog.records
        if not r.name.startswith("capi_devtools.sandbox")
    ]
    assert any("partitions assigned" in line for line in connector_lines)
    captured = capfd.readouterr()
    haystacks = {
        "log records": "\n".join(connector_lines),
        "stderr/stdout": captured.err + captured.out,
        "metrics": metrics_text,
        "readiness": readiness_text,
        "results": "\n".join((m.value() or b"").decode("latin-1") for m in results),
    }
    # The dead letter keeps the original record by design: proof the search finds the canary.
    dead = "\n".join(
        (m.value() or b"").decode("latin-1") for m in read_all(kafka_bootstrap, f"{topic}-dlq", 1)
    )
    assert CANARY_EMAIL.lower() in dead.lower()
    leaks = [
        (where, form)
        for where, text in haystacks.items()
        for form in _canary_forms()
        if form.lower() in text.lower()
    ]
    assert leaks == []
