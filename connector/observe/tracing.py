"""Traces by the OpenTelemetry conventions, exported over OTLP/HTTP when asked.

What is traced: a CONSUMER span for each batch the pipeline takes from Kafka (`process <topic>`,
with `messaging.system`, `messaging.destination.name`, `messaging.consumer.group.name` and
`messaging.batch.message_count`), linked to the trace of each record's W3C `traceparent` header
(the producer's; records without one are fine); the Spotify requests of its events are its
children (the sink runs them in the batch's context); log lines written inside a span carry its
`trace_id` and `span_id` (connector/process/logs.py).

Where they go: the standard `OTEL_*` variables work as they are (`OTEL_EXPORTER_OTLP_ENDPOINT`
or `..._TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_PROTOCOL`
(`http/protobuf`), `OTEL_TRACES_SAMPLER` and its argument, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`); `telemetry.otlp_endpoint` is a shorthand for the
endpoint. Without either there is no tracer provider, and tracing costs nothing: the pipeline
does not even read the records' headers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, TraceFlags

from connector.config import Settings
from connector.errors import ConfigError
from connector.models import SourceRecord

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def tracer_provider(
    settings: Settings,
    resource: Resource,
    exporter: SpanExporter | None = None,
    environ: Mapping[str, str] = os.environ,
) -> TracerProvider | None:
    """A provider exporting to `exporter`, or over OTLP/HTTP to the endpoint the `OTEL_*`
    variables or `telemetry.otlp_endpoint` name; None when none is named (or the SDK is off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if exporter is None:
        endpoint = settings.telemetry.otlp_endpoint
        if not endpoint and not any(environ.get(name) for name in _ENDPOINTS):
            return None
        protocol = next((environ[name] for name in _PROTOCOLS if environ.get(name)), "")
        if protocol.strip() not in ("", "http/protobuf"):
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol.strip()!r}: traces are exported over "
                "http/protobuf only"
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # No endpoint given: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT and its
        # headers, timeout and compression variables itself.
        exporter = OTLPSpanExporter(endpoint=traces_url(endpoint) if endpoint else None)
    provider = TracerProvider(resource=resource)  # the sampler: OTEL_TRACES_SAMPLER's
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def traces_url(endpoint: str) -> str:
    """`http://collector:4318` → `http://collector:4318/v1/traces` (a full URL stays as is)."""
    trimmed = endpoint.rstrip("/")
    return trimmed if trimmed.endswith("/v1/traces") else f"{trimmed}/v1/traces"


def resource_attributes(
    service_version: str, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """Our service name unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` gives one (the
    SDK merges those in, and what is passed here would win)."""
    attributes = {"service.version": service_version}
    named_in_env = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    if not named_in_env:
        attributes["service.name"] = SERVICE_NAME
    return attributes


SERVICE_NAME = "spotify-capi-connector"


class BatchSpans:
    """The CONSUMER span of each batch the pipeline takes from Kafka; `None` spans when off."""

    def __init__(self, provider: TracerProvider | None, settings: Settings) -> None:
        self._tracer = None if provider is None else provider.get_tracer("connector.pipeline")
        self._group = settings.kafka.group_id

    def start(self, records: Sequence[SourceRecord]) -> Span | None:
        """A span for the batch, linked to each record's producer trace; None when off."""
        if self._tracer is None or not records:
            return None
        topics = sorted({record.coordinates.topic for record in records})
        destination = topics[0] if len(topics) == 1 else ",".join(topics)
        return self._tracer.start_span(
            f"process {destination}",
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": destination,
                "messaging.consumer.group.name": self._group,
                "messaging.batch.message_count": len(records),
            },
            links=_producer_links(records),
        )

    @staticmethod
    def context(span: Span | None) -> Any:
        """What the sink runs a request of the batch's events in (None when off)."""
        return None if span is None else trace.set_span_in_context(span)

    @staticmethod
    def end(span: Span | None) -> None:
        if span is not None:
            span.end()


def _producer_links(records: Sequence[SourceRecord]) -> list[Link]:
    """One link to each distinct producer span among the records' `traceparent` headers, up to
    the SDK's limit of a span's links (OTEL_SPAN_LINK_COUNT_LIMIT, 128): the rest are not read."""
    links: dict[bytes, Link] = {}
    for record in records:
        for name, value in record.headers:
            if name == "traceparent" and value not in links:
                found = _remote_span(value)
                if found is not None:
                    links[value] = Link(found)
        if len(links) >= _LINK_LIMIT:
            break
    return list(links.values())


_LINK_LIMIT = SpanLimits().max_links or 128


# The W3C propagator's own pattern (opentelemetry's TraceContextTextMapPropagator), on bytes.
_TRACEPARENT = re.compile(
    rb"^\s*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\s*$"
)


def _remote_span(traceparent: bytes) -> SpanContext | None:
    """A `traceparent` as the W3C propagator reads it (tests/unit/test_tracing.py holds the two
    to the same answer), a regex and three ints instead of a context and a carrier a record."""
    found = _TRACEPARENT.match(traceparent)
    if found is None:
        return None
    version, trace_hex, span_hex, flags, rest = found.groups()
    if version == b"ff" or (version == b"00" and rest):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not (trace_id and span_id):
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(flags, 16)))
