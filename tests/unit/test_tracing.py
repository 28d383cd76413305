"""Traces: the provider from the OTEL_* variables, a CONSUMER span per batch linked to the
producers' traces, the sink's requests as its children, and trace ids in the JSON log lines.
In-memory exporters here; tests/integration/test_traces.py reads them back from Jaeger."""

from __future__ import annotations

import logging
import threading
from collections import deque

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from capi_devtools.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN, SandboxServer
from connector.config import (
    KafkaSettings,
    PipelineSettings,
    Settings,
    SinkSettings,
    SpotifySettings,
)
from connector.errors import ConfigError
from connector.models import SourceCoordinates, SourceRecord
from connector.observe.telemetry import Telemetry
from connector.observe.tracing import BatchSpans, tracer_provider, traces_url
from connector.pipeline import Pipeline
from connector.prepare.choice import choose
from connector.process.logs import JsonFormatter
from connector.sink import SinkItem, SpotifySink
from tests.support.pipeline_doubles import (
    Assign,
    MemoryResults,
    MemorySink,
    Records,
    ScriptedSource,
    Until,
)
from tests.support.pipeline_doubles import record as tracking

TOPIC = "events"
PRODUCER_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
PRODUCER_SPAN = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{PRODUCER_TRACE:032x}-{PRODUCER_SPAN:016x}-01".encode()
OTHER_TRACEPARENT = f"00-{PRODUCER_TRACE + 1:032x}-{PRODUCER_SPAN + 1:016x}-01".encode()


def in_memory() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def record(offset: int, *headers: tuple[str, bytes]) -> SourceRecord:
    return SourceRecord(SourceCoordinates(TOPIC, 0, offset, None), None, b"", tuple(headers))


def settings() -> Settings:
    return Settings(kafka=KafkaSettings(group_id="capi-group", input_topic=TOPIC))


def test_the_traces_path_is_added_to_an_endpoint() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/v1/traces/") == "http://collector:4318/v1/traces"


def test_no_endpoint_no_provider_and_the_standard_variables_name_one() -> None:
    resource = Resource.create()
    assert tracer_provider(settings(), resource, environ={}) is None
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert isinstance(tracer_provider(settings(), resource, environ=env), TracerProvider)
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}
    assert isinstance(tracer_provider(settings(), resource, environ=env), TracerProvider)
    off = {**env, "OTEL_SDK_DISABLED": "true"}
    assert tracer_provider(settings(), resource, environ=off) is None


def test_a_protocol_other_than_http_protobuf_is_a_clear_error() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(ConfigError, match="'grpc': traces are exported over http/protobuf only"):
        tracer_provider(settings(), Resource.create(), environ=env)


def test_the_service_name_is_ours_unless_the_environment_gives_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    ours = Telemetry(settings())
    assert ours.tracer_provider is not None
    attributes = ours.tracer_provider.resource.attributes
    assert attributes["service.name"] == "spotify-capi-connector"
    assert attributes["deployment.environment"] == "test"
    ours.shutdown()
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-conversions")
    named = Telemetry(settings())
    assert named.tracer_provider is not None
    assert named.tracer_provider.resource.attributes["service.name"] == "shop-conversions"
    named.shutdown()


def test_a_batch_span_follows_the_conventions_and_links_each_producer_once() -> None:
    provider, exporter = in_memory()
    spans = BatchSpans(provider, settings())
    batch = [
        record(0, ("traceparent", TRACEPARENT)),
        record(1, ("traceparent", TRACEPARENT)),  # the same producer span: one link
        record(2, ("other", b"x"), ("traceparent", OTHER_TRACEPARENT)),
        record(3),  # no header: fine
        record(4, ("traceparent", b"not a traceparent")),
    ]
    span = spans.start(batch)
    assert span is not None
    BatchSpans.end(span)
    (finished,) = exporter.get_finished_spans()
    assert (finished.name, finished.kind) == (f"process {TOPIC}", SpanKind.CONSUMER)
    assert dict(finished.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": TOPIC,
        "messaging.consumer.group.name": "capi-group",
        "messaging.batch.message_count": 5,
    }
    assert [(link.context.trace_id, link.context.span_id) for link in finished.links] == [
        (PRODUCER_TRACE, PRODUCER_SPAN),
        (PRODUCER_TRACE + 1, PRODUCER_SPAN + 1),
    ]


def test_without_a_provider_there_is_no_span_and_no_context() -> None:
    spans = BatchSpans(None, settings())
    assert spans.start([record(0, ("traceparent", TRACEPARENT))]) is None
    assert BatchSpans.context(None) is None
    BatchSpans.end(None)  # nothing to end


async def test_a_request_of_the_batchs_events_is_a_child_of_its_span() -> None:
    provider, exporter = in_memory()
    batch_span = BatchSpans(provider, settings()).start([record(0)])
    assert batch_span is not None
    context = BatchSpans.context(batch_span)
    async with SandboxServer() as sandbox:
        await _send_one(sandbox.url, provider, context)
    BatchSpans.end(batch_span)
    by_kind = {span.kind: span for span in exporter.get_finished_spans()}
    request, batch = by_kind[SpanKind.CLIENT], by_kind[SpanKind.CONSUMER]
    assert request.parent is not None
    assert (request.parent.trace_id, request.parent.span_id) == (
        batch.context.trace_id,
        batch.context.span_id,
    )


async def _send_one(url: str, provider: TracerProvider, context: object) -> None:
    sink = SpotifySink(
        SpotifySettings(
            url=url, token=SecretStr(DEFAULT_TOKEN), connection_id=DEFAULT_CONNECTION_ID
        ),
        SinkSettings(linger_ms=0),
        lambda _outcomes: None,
        trace_configs=[create_trace_config(tracer_provider=provider)],
    )
    payload = orjson.dumps({"event_id": "e1", "user_data": {"ip_address": "1"}})
    async with sink:
        sink.add(SinkItem("ref", "e1", payload, trace=context))
        assert await sink.flush(timeout=10)


def test_a_json_log_line_inside_a_span_carries_its_ids() -> None:
    provider, _ = in_memory()
    formatter = JsonFormatter()
    line = logging.LogRecord("connector", logging.INFO, __file__, 1, "hello", None, None)
    assert "trace_id" not in orjson.loads(formatter.format(line))
    with provider.get_tracer("test").start_as_current_span("batch") as span:
        inside = orjson.loads(formatter.format(line))
    ids = span.get_span_context()
    assert (inside["trace_id"], inside["span_id"]) == (
        trace.format_trace_id(ids.trace_id),
        trace.format_span_id(ids.span_id),
    )


def test_the_pipeline_traces_each_batch_it_hands_on() -> None:
    provider, exporter = in_memory()
    stop = threading.Event()
    source = ScriptedSource(
        deque(
            [
                Assign([("events", 0), ("events", 1)]),
                Records([traced(tracking(0, n)) for n in range(3)]),
                Records([tracking(1, n) for n in range(2)]),
                Until(lambda: len(results.stored) == 5, "every result"),
            ]
        ),
        stop,
    )
    results = MemoryResults()
    connector = Settings(pipeline=PipelineSettings(prepare_processes=0, drain_timeout_s=0.5))
    pipeline = Pipeline(
        connector,
        source=source,
        writer=results,
        sink_factory=MemorySink().factory,
        prepare=choose(connector),
        spans=BatchSpans(provider, connector),
    )
    pipeline.run(stop)
    spans = sorted(exporter.get_finished_spans(), key=ReadableSpan_start)
    assert [dict(span.attributes or {})["messaging.batch.message_count"] for span in spans] == [
        3,
        2,
    ]
    assert [len(span.links) for span in spans] == [1, 0]


def ReadableSpan_start(span: ReadableSpan) -> int:
    return span.start_time or 0


def traced(envelope: SourceRecord) -> SourceRecord:
    return envelope._replace(headers=(("traceparent", TRACEPARENT),))


@pytest.mark.parametrize(
    "header",
    [
        TRACEPARENT,
        OTHER_TRACEPARENT,
        b"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00",  # not sampled
        b"01-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01-future",  # a later version
        b" 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01 ",
        b"00-0AF7651916CD43DD8448EB211C80319C-00F067AA0BA902B7-01",  # upper case: refused
        b"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01-extra",  # 00 takes no more
        b"ff-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        b"00-0af7651916cd43dd8448eb211c80319-00f067aa0ba902b7-01",
        b"not a traceparent",
        b"",
    ],
)
def test_a_traceparent_is_read_as_the_w3c_propagator_reads_it(header: bytes) -> None:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from connector.observe import tracing

    expected = trace.get_current_span(
        TraceContextTextMapPropagator().extract({"traceparent": header.decode()})
    ).get_span_context()
    found = tracing._remote_span(header)
    if not expected.is_valid:
        assert found is None
        return
    assert found is not None
    assert (found.trace_id, found.span_id, found.trace_flags, found.is_remote) == (
        expected.trace_id,
        expected.span_id,
        expected.trace_flags,
        True,
    )


def test_a_batch_links_no_more_producers_than_a_span_keeps() -> None:
    provider, exporter = in_memory()
    headers = [f"00-{n + 1:032x}-{n + 1:016x}-01".encode() for n in range(300)]
    span = BatchSpans(provider, settings()).start(
        [record(n, ("traceparent", header)) for n, header in enumerate(headers)]
    )
    BatchSpans.end(span)
    (finished,) = exporter.get_finished_spans()
    assert [link.context.trace_id for link in finished.links] == list(range(1, 129))
