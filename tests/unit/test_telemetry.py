"""The metric instruments: what each feed adds, read back through the Prometheus exposition."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from connector import __version__
from connector.config import (
    ConnectionSettings,
    KafkaSettings,
    RoutingSettings,
    Settings,
    SpotifySettings,
)
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates
from connector.observe.telemetry import Telemetry, event_name_label, status_class
from connector.ports import PipelineStatus
from connector.process import compiled as _compiled
from connector.sink import StrippedField

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: bytes) -> Samples:
    """Every sample by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def value(scraped: Samples, name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


def telemetry(clock_ms: int = 10_000_000) -> Telemetry:
    settings = Settings(kafka=KafkaSettings(input_topic="events", group_id="g1"))
    return Telemetry(settings, clock_ms=lambda: clock_ms)


def result(status: DeliveryStatus, **fields: object) -> DeliveryResult:
    coordinates = fields.pop("coordinates", SourceCoordinates("events", 0, 7, None))
    return DeliveryResult(
        coordinates=coordinates,  # type: ignore[arg-type]
        status=status,
        received_at_ms=1_000,
        settled_at_ms=fields.pop("settled_at_ms", 2_000),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def test_skipped_results_count_by_reason_and_are_neither_rejected_nor_dead_lettered() -> None:
    t = telemetry()
    t.on_results([result(DeliveryStatus.SKIPPED_NO_CONSENT, error_code="consent_denied")])
    t.on_results([result(DeliveryStatus.SKIPPED_NO_CONSENT, error_code="consent_denied")])
    t.on_results([result(DeliveryStatus.SKIPPED_NO_CONSENT, error_code="consent_missing")])
    s = samples(t.scrape())
    skipped = "spotify_capi_events_skipped_total"
    assert value(s, skipped, spotify_capi_reason="consent_denied") == 2
    assert value(s, skipped, spotify_capi_reason="consent_missing") == 1
    assert not [key for key in s if key[0].startswith("spotify_capi_events_dead_lettered")]
    assert not [key for key in s if key[0].startswith("spotify_capi_events_rejected")]


def test_results_count_delivered_rejected_and_dead_lettered_by_bounded_labels() -> None:
    t = telemetry()
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="PURCHASE")])
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="PURCHASE")])
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="LEAD")])
    t.on_results(
        [result(DeliveryStatus.REJECTED_TRANSFORM, event_name="DANCE", error_code="invalid_event")]
    )
    t.on_results([result(DeliveryStatus.REJECTED_SPOTIFY, error_code="spotify_400")])
    t.on_results([result(DeliveryStatus.RETRY_EXHAUSTED, error_code="retry_exhausted")])
    s = samples(t.scrape())
    delivered = "spotify_capi_events_delivered_total"
    assert value(s, delivered, spotify_capi_event_name="PURCHASE") == 2
    assert value(s, delivered, spotify_capi_event_name="LEAD") == 1
    rejected = "spotify_capi_events_rejected_total"
    transform = {"spotify_capi_status": "REJECTED_TRANSFORM", "error_type": "invalid_event"}
    spotify = {"spotify_capi_status": "REJECTED_SPOTIFY", "error_type": "spotify_400"}
    exhausted = {"spotify_capi_status": "RETRY_EXHAUSTED", "error_type": "retry_exhausted"}
    assert value(s, rejected, **transform) == 1
    assert value(s, rejected, **spotify) == 1
    assert value(s, rejected, **exhausted) is None  # not refused: it may succeed on replay
    dead = "spotify_capi_events_dead_lettered_total"
    assert [value(s, dead, **labels) for labels in (transform, spotify, exhausted)] == [1, 1, 1]
    assert not any("DANCE" in str(key) for key in s)


def test_end_to_end_latencies_from_kafka_time_and_event_time() -> None:
    t = telemetry()
    coordinates = SourceCoordinates("events", 0, 1, timestamp_ms=7_500)
    t.on_results(
        [
            result(
                DeliveryStatus.DELIVERED,
                coordinates=coordinates,
                settled_at_ms=10_000,
                event_time_ms=4_000,
            )
        ]
    )
    t.on_results([result(DeliveryStatus.DELIVERED)])  # no Kafka timestamp, no event time
    s = samples(t.scrape())
    assert value(s, "spotify_capi_delivery_latency_seconds_count") == 1
    assert value(s, "spotify_capi_delivery_latency_seconds_sum") == 2.5
    assert value(s, "spotify_capi_delivery_latency_seconds_bucket", le="2.5") == 1
    assert value(s, "spotify_capi_delivery_latency_seconds_bucket", le="1") == 0
    assert value(s, "spotify_capi_event_delivery_delay_seconds_sum") == 6.0


def test_a_clock_behind_the_kafka_or_event_time_counts_as_no_latency() -> None:
    t = telemetry()
    ahead = SourceCoordinates("events", 0, 1, timestamp_ms=12_000)  # after the settle
    t.on_results(
        [
            result(
                DeliveryStatus.DELIVERED,
                coordinates=ahead,
                settled_at_ms=10_000,
                event_time_ms=11_000,
            )
        ]
    )
    s = samples(t.scrape())
    assert value(s, "spotify_capi_delivery_latency_seconds_count") == 1
    assert value(s, "spotify_capi_delivery_latency_seconds_sum") == 0.0
    assert value(s, "spotify_capi_delivery_latency_seconds_bucket", le="1") == 1
    assert value(s, "spotify_capi_event_delivery_delay_seconds_count") == 1
    assert value(s, "spotify_capi_event_delivery_delay_seconds_sum") == 0.0


def test_sink_observer_records_requests_batches_retries_and_auth() -> None:
    t = telemetry()
    observer = t.sink_observer_for("brand_b")
    observer.on_request(200, 100, 0.2)
    observer.on_request(200, 40, 0.3)
    observer.on_request(503, 100, 1.5)
    observer.on_request(None, 100, 15.0)
    observer.on_retry("http_503")
    observer.on_retry("timeout")
    observer.on_retry("timeout")
    observer.on_auth_state(True)
    observer.on_auth_state(False)
    observer.on_field_removed("user_data.clickID")
    observer.on_field_removed("user_data.clickID")
    observer.on_field_removed("event_details.content_category")
    s = samples(t.scrape())
    duration = "http_client_request_duration_seconds"
    b = {"connection": "brand_b"}
    ok = {"http_request_method": "POST", "http_response_status_code": "200", **b}
    assert value(s, f"{duration}_count", **ok) == 2
    assert value(s, f"{duration}_sum", **ok) == 0.5
    assert value(s, f"{duration}_bucket", le="0.25", **ok) == 1
    transport = {"http_request_method": "POST", "error_type": "transport", **b}
    assert value(s, f"{duration}_count", **transport) == 1
    responses = "spotify_capi_http_responses_total"
    by_class = {c: value(s, responses, http_response_status_class=c, **b) for c in ("2xx", "5xx")}
    assert by_class == {"2xx": 2, "5xx": 1}
    assert value(s, responses, http_response_status_class="none", **b) == 1
    assert value(s, "spotify_capi_batch_size_sum") == 340
    assert value(s, "spotify_capi_batch_size_bucket", le="50") == 1
    assert value(s, "spotify_capi_requests_retried_total", error_type="timeout", **b) == 2
    assert value(s, "spotify_capi_requests_retried_total", error_type="http_503", **b) == 1
    assert value(s, "spotify_capi_auth_failures_total", **b) == 1
    removed = "spotify_capi_fields_removed_total"
    assert value(s, removed, spotify_capi_field="user_data.clickID", **b) == 2
    assert value(s, removed, spotify_capi_field="event_details.content_category", **b) == 1


def test_learned_strips_and_the_rate_caps_wait_are_counted_by_connection() -> None:
    t = telemetry()
    observer = t.sink_observer_for("brand_b")
    observer.on_fields_stripped("user_data.clickID", 100)
    observer.on_fields_stripped("user_data.clickID", 40)
    observer.on_rate_wait(0.25)
    observer.on_rate_wait(0.5)
    s = samples(t.scrape())
    b = {"connection": "brand_b"}
    stripped = "spotify_capi_fields_stripped_total"
    assert value(s, stripped, spotify_capi_field="user_data.clickID", **b) == 140
    assert value(s, "spotify_capi_rate_limit_wait_seconds_total", **b) == 0.75
    assert value(s, "spotify_capi_fields_stripped_since_seconds") is None  # nothing watched
    status = PipelineStatus(started_at_ms=0)
    status.stripped_fields = (
        StrippedField("brand_b", "user_data.clickID", 1_790_000_000_500),
        StrippedField("default", "user_data.gender", 1_790_000_001_000),
    )
    t.watch(status)
    s = samples(t.scrape())
    since = "spotify_capi_fields_stripped_since_seconds"
    assert value(s, since, spotify_capi_field="user_data.clickID", **b) == 1_790_000_000.5
    assert value(s, since, spotify_capi_field="user_data.gender", connection="default") == (
        1_790_000_001.0
    )
    status.stripped_fields = ()  # a field sent again: its series goes
    assert value(samples(t.scrape()), since, spotify_capi_field="user_data.gender") is None


def test_gauges_read_the_pipeline_status_at_scrape_time() -> None:
    t = telemetry(clock_ms=10_000_000)
    assert value(samples(t.scrape()), "spotify_capi_events_in_flight") is None  # nothing watched
    status = PipelineStatus(started_at_ms=0, last_progress_ms=9_996_000)
    status.consumed, status.unsettled, status.assigned, status.paused = 1234, 56, 3, 2
    status.auth_failing, status.failing_connections = True, ("default",)
    status.lag = {("events", 0): 10, ("events", 2): 0}
    t.watch(status)
    s = samples(t.scrape())
    consumed = {
        "messaging_system": "kafka",
        "messaging_destination_name": "events",
        "messaging_consumer_group_name": "g1",
    }
    assert value(s, "messaging_client_consumed_messages_total", **consumed) == 1234
    assert value(s, "spotify_capi_events_in_flight") == 56
    assert value(s, "spotify_capi_partitions_assigned") == 3
    assert value(s, "spotify_capi_partitions_paused") == 2
    assert value(s, "spotify_capi_auth_failing", connection="default") == 1
    assert value(s, "spotify_capi_broker_down") == 0
    assert value(s, "spotify_capi_progress_age_seconds") == 4.0
    lag = "spotify_capi_consumer_lag"
    partition = {"messaging_destination_name": "events"}
    assert value(s, lag, messaging_destination_partition_id="0", **partition) == 10
    assert value(s, lag, messaging_destination_partition_id="2", **partition) == 0
    status.consumed = 2000  # the next scrape sees the new value
    assert (
        value(samples(t.scrape()), "messaging_client_consumed_messages_total", **consumed) == 2000
    )


def test_label_helpers_keep_cardinality_bounded() -> None:
    assert [status_class(s) for s in (200, 204, 429, 503, None)] == [
        "2xx",
        "2xx",
        "4xx",
        "5xx",
        "none",
    ]
    assert [event_name_label(n) for n in ("PURCHASE", "Order Completed", None)] == [
        "PURCHASE",
        "other",
        "none",
    ]


def test_each_telemetry_has_its_own_registry() -> None:
    first, second = telemetry(), telemetry()
    first.on_results([result(DeliveryStatus.DELIVERED, event_name="VIEW")])
    name = "spotify_capi_events_delivered_total"
    assert value(samples(first.scrape()), name, spotify_capi_event_name="VIEW") == 1
    assert value(samples(second.scrape()), name, spotify_capi_event_name="VIEW") is None


def test_no_tracing_without_an_otlp_endpoint() -> None:
    t = telemetry()
    assert t.tracer_provider is None
    assert t.trace_configs() == []


async def test_sink_requests_become_client_spans_without_the_token() -> None:
    import aiohttp
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from capi_devtools.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN, SandboxServer

    exporter = InMemorySpanExporter()
    t = Telemetry(Settings(), span_exporter=exporter)
    body = {"conversion_events": {"capi_connection_id": DEFAULT_CONNECTION_ID, "events": []}}
    async with (
        SandboxServer() as sandbox,
        aiohttp.ClientSession(trace_configs=t.trace_configs()) as session,
        session.post(
            sandbox.url, json=body, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        ) as response,
    ):
        status = response.status
    assert t.tracer_provider is not None
    t.tracer_provider.force_flush()
    spans = exporter.get_finished_spans()
    assert len(spans) == 1
    attributes = dict(spans[0].attributes or {})
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.response.status_code"] == status
    assert not any(DEFAULT_TOKEN in str(v) for v in attributes.values())
    t.shutdown()


def test_auth_failing_names_the_refused_connection_among_several() -> None:
    connections = {
        "brand_a": ConnectionSettings(connection_id="a", token=SecretStr("ta")),
        "brand_b": ConnectionSettings(connection_id="b", token=SecretStr("tb")),
    }
    settings = Settings(
        spotify=SpotifySettings(connections=connections),
        routing=RoutingSettings(default=None, routes={"x": "brand_a"}),
    )
    t = Telemetry(settings)
    status = PipelineStatus(auth_failing=True, failing_connections=("brand_b",))
    t.watch(status)
    s = samples(t.scrape())
    assert value(s, "spotify_capi_auth_failing", connection="brand_a") == 0
    assert value(s, "spotify_capi_auth_failing", connection="brand_b") == 1
    assert value(s, "spotify_capi_auth_failing", connection="default") is None


def test_sre_metrics_in_flight_limit_rebalances_commits_last_delivery_and_build() -> None:
    t = telemetry()
    status = PipelineStatus()
    status.rebalances.update({"assigned": 2, "revoked": 1})
    status.commits = 9
    status.commit_failures = 2
    t.watch(status)
    t.sink_observer_for("default").on_in_flight(3, 8)
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="PURCHASE", settled_at_ms=1_700_000)])
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="PURCHASE", settled_at_ms=1_500_000)])
    s = samples(t.scrape())
    default = {"connection": "default"}
    assert value(s, "spotify_capi_http_requests_in_flight", **default) == 3
    assert value(s, "spotify_capi_http_concurrency_limit", **default) == 8
    rebalances = "spotify_capi_rebalances_total"
    assert value(s, rebalances, spotify_capi_rebalance="assigned") == 2
    assert value(s, rebalances, spotify_capi_rebalance="revoked") == 1
    assert value(s, "spotify_capi_commits_total") == 9
    assert value(s, "spotify_capi_commit_failures_total") == 2
    assert value(s, "spotify_capi_delivery_last_success_time_seconds") == 1_700.0  # the latest
    compiled = "true" if _compiled.compiled() else "false"  # make test builds it: "true"
    assert value(s, "spotify_capi_build_info", version=__version__, compiled=compiled) == 1
    assert (value(s, "process_cpu_seconds_total") or 0) > 0
    assert any(name == "python_info" for name, _ in s)


def test_no_last_delivery_time_before_a_delivery() -> None:
    s = samples(telemetry().scrape())
    assert not [k for k in s if k[0] == "spotify_capi_delivery_last_success_time_seconds"]


def test_request_duration_names_the_server_and_error_answers_by_status() -> None:
    t = telemetry()
    observer = t.sink_observer_for("default")
    observer.on_request(200, 1, 0.1)
    observer.on_request(429, 1, 0.1)
    s = samples(t.scrape())
    server = {"server_address": "capi.spotify.com", "server_port": "443"}
    common = {"http_request_method": "POST", "connection": "default", **server}
    count = "http_client_request_duration_seconds_count"
    assert value(s, count, http_response_status_code="200", **common) == 1
    assert value(s, count, http_response_status_code="429", error_type="429", **common) == 1


def test_the_exposition_carries_no_empty_label() -> None:
    """The exporter fills a series' missing attributes with ""; none reaches the exposition."""
    t = telemetry()
    observer = t.sink_observer_for("default")
    observer.on_request(200, 1, 0.1)
    observer.on_request(400, 1, 0.1)
    observer.on_request(None, 1, 0.1)
    observer.on_retry("http_429")
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="PURCHASE")])
    t.on_produce_error("results", "_MSG_TIMED_OUT")
    text = t.scrape().decode()
    assert '=""' not in text
    durations = {
        frozenset(labels)
        for (name, labels) in samples(text.encode())
        if name == "http_client_request_duration_seconds_count"
    }
    common = {
        ("http_request_method", "POST"),
        ("connection", "default"),
        ("server_address", "capi.spotify.com"),
        ("server_port", "443"),
    }
    assert durations == {
        frozenset({*common, ("http_response_status_code", "200")}),
        frozenset({*common, ("http_response_status_code", "400"), ("error_type", "400")}),
        frozenset({*common, ("error_type", "transport")}),
    }


def test_produce_errors_count_by_topic_role_and_error_name_from_zero() -> None:
    t = telemetry()
    name = "spotify_capi_results_produce_errors_total"
    before = {k: v for k, v in samples(t.scrape()).items() if k[0] == name}
    assert before == {
        (name, frozenset({("spotify_capi_topic_role", "results")})): 0,
        (name, frozenset({("spotify_capi_topic_role", "dead_letter")})): 0,
    }
    t.on_produce_error("results", "_MSG_TIMED_OUT")
    t.on_produce_error("results", "_MSG_TIMED_OUT")
    t.on_produce_error("dead_letter", "TOPIC_AUTHORIZATION_FAILED")
    t.on_produce_error("results", "X" * 200)  # cut to a bounded label
    s = samples(t.scrape())
    assert value(s, name, spotify_capi_topic_role="results", error_type="_MSG_TIMED_OUT") == 2
    role = {"spotify_capi_topic_role": "dead_letter"}
    assert value(s, name, error_type="TOPIC_AUTHORIZATION_FAILED", **role) == 1
    assert value(s, name, spotify_capi_topic_role="results", error_type="X" * 64) == 1
    assert value(s, name, spotify_capi_topic_role="results") == 0  # the zero series stay
    assert value(s, name, **role) == 0
    assert sum(n for (series, _), n in s.items() if series == name) == 4


def test_delivered_events_count_by_event_name_and_identifier_kind() -> None:
    t = telemetry()
    both = ("email", "ip")
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="PURCHASE", identifiers=both)])
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="PURCHASE", identifiers=("ip",))])
    t.on_results([result(DeliveryStatus.DELIVERED, event_name="LEAD", identifiers=("phone",))])
    t.on_results(
        [result(DeliveryStatus.REJECTED_SPOTIFY, event_name="LEAD", identifiers=("phone",))]
    )  # not delivered: not counted
    s = samples(t.scrape())
    name = "spotify_capi_events_identifiers_total"

    def count(event: str, kind: str) -> float | None:
        return value(s, name, spotify_capi_event_name=event, spotify_capi_kind=kind)

    assert count("PURCHASE", "ip") == 2
    assert count("PURCHASE", "email") == 1
    assert count("PURCHASE", "ip_only") == 1
    assert count("LEAD", "phone") == 1
    assert count("PURCHASE", "phone") is None


def test_reconcile_metrics_hold_the_last_success_and_count_runs_from_zero() -> None:
    from connector.reconcile.compare import Reconciliation, Total
    from connector.reconcile.metrics import ReconcileMetrics

    t = telemetry()
    metrics = ReconcileMetrics(t.meter_provider.get_meter("test"), clock_s=lambda: 1_700_000_000.0)
    before = samples(t.scrape())
    metrics.on_outcome(
        Reconciliation(
            rows=[],
            totals=[Total("eu", "PURCHASE", delivered=200, counted=150, gap=50)],
            causes=[],
        )
    )
    metrics.on_failure("AdsApiError")
    after = samples(t.scrape())
    eu = {"connection": "eu", "spotify_capi_event_name": "PURCHASE"}
    runs = "spotify_capi_reconcile_runs_total"
    assert value(before, runs, outcome="ok") == 0
    assert value(before, runs, outcome="failed") == 0
    assert value(before, "spotify_capi_reconcile_last_success_seconds") is None
    assert value(before, "spotify_capi_reconcile_gap_ratio", **eu) is None
    assert value(after, "spotify_capi_reconcile_gap_ratio", **eu) == 0.25
    assert value(after, "spotify_capi_reconcile_delivered", **eu) == 200
    assert value(after, "spotify_capi_reconcile_counted", **eu) == 150
    assert value(after, runs, outcome="ok") == 1
    assert value(after, runs, outcome="failed") == 1
    assert value(after, "spotify_capi_reconcile_last_success_seconds") == 1_700_000_000.0
