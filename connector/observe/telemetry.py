"""OpenTelemetry for the connector: metrics for Prometheus, and traces over OTLP/HTTP when asked
(connector/observe/tracing.py).

Metric names follow the OpenTelemetry semantic conventions where one exists
(`messaging.client.consumed.messages`, `http.client.request.duration`); the connector's own live
under `spotify_capi.`. Labels are bounded: a status, a reason code, a cause, a partition, an event
name from Spotify's fixed list. Never an event id, a user identifier or a value from a record.

Four feeds: the sink's observer (HTTP requests, retries, auth: SDK instruments), the pipeline's
`on_results` (one call per batch of settled records: plain counters and bucket arrays, cheap on
the Kafka thread, read at scrape time), the result writer's `on_produce_error`, and observable
gauges that read `PipelineStatus` at scrape time. docs/operations.md lists every metric.

The exposition never carries an empty label: the OpenTelemetry exporter fills the attribute keys
a series lacks with "" (a 2xx answer has no `error.type`), and `DropEmptyLabels` takes them out.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Meter, NoOpMeterProvider, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily, Metric

from connector import __version__
from connector.config import DEFAULT_CONNECTION, SPOTIFY_EVENT_NAMES, Settings
from connector.models import DeliveryResult, DeliveryStatus
from connector.observe.tracing import resource_attributes, tracer_provider
from connector.ports import TOPIC_ROLES
from connector.process import compiled as _compiled

if TYPE_CHECKING:
    from connector.ports import PipelineStatus


# Semantic-convention buckets for HTTP client durations (seconds).
REQUEST_SECONDS_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    2.5,
    5,
    7.5,
    10,
)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
# End-to-end: from tens of milliseconds (live traffic) to a week (a backlog or late events).
LATENCY_SECONDS_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 604800,
)  # fmt: skip
_MAX_LABEL = 64  # reason codes are short; a longer one is cut rather than trusted
_FAILURE_LABELS = ("spotify_capi.status", "error.type")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, `5xx`…; `none` when no HTTP answer came (timeout, connection failure)."""
    return "none" if status is None else f"{status // 100}xx"


def event_name_label(name: str | None) -> str:
    """Spotify's names pass; anything else (an unmapped source name) becomes `other`."""
    if name is None:
        return "none"
    return name if name in SPOTIFY_EVENT_NAMES else "other"


def _label(value: str | None) -> str:
    return "none" if not value else value[:_MAX_LABEL]


class Telemetry:
    """Owns the meter (and tracer) providers of one connector process."""

    def __init__(
        self,
        settings: Settings,
        *,
        span_exporter: SpanExporter | None = None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._topic = settings.kafka.input_topic
        self._group = settings.kafka.group_id
        self._spotify = settings.spotify_connections()
        self._connections = tuple(self._spotify)
        self._last_delivered_ms = 0
        self._requests_in_flight: dict[str, int] = {}
        self._in_flight_limit: dict[str, int] = {}
        self._clock_ms = clock_ms
        self._status: PipelineStatus | None = None
        self._delivered: Counter[tuple[str, ...]] = Counter()
        self._rejected: Counter[tuple[str, ...]] = Counter()
        self._dead_lettered: Counter[tuple[str, ...]] = Counter()
        self._skipped: Counter[tuple[str, ...]] = Counter()
        self._identifiers: Counter[tuple[str, ...]] = Counter()
        self._produce_errors: Counter[tuple[str, ...]] = Counter()
        self.delivery_latency = Buckets(
            "spotify_capi_delivery_latency_seconds",
            "Kafka record timestamp to Spotify's acknowledgement",
            LATENCY_SECONDS_BUCKETS,
        )
        self.event_delay = Buckets(
            "spotify_capi_event_delivery_delay_seconds",
            "Event time to Spotify's acknowledgement",
            LATENCY_SECONDS_BUCKETS,
        )
        resource = Resource.create(resource_attributes(__version__))
        # A registry of our own: several connectors (tests) in one process never mix metrics.
        self.registry = CollectorRegistry(auto_describe=True)
        # The exporter registers in a registry of its own, exposed through DropEmptyLabels.
        exported = CollectorRegistry(auto_describe=False)
        reader = PrometheusMetricReader(
            registry=exported, disable_target_info=True, scope_info_enabled=False
        )
        self.meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
        self.registry.register(DropEmptyLabels(exported))
        self.registry.register(HistogramCollector((self.delivery_latency, self.event_delay)))
        # process_* (CPU, memory, file descriptors, start time), python_info and python_gc_*.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.tracer_provider = tracer_provider(settings, resource, span_exporter)
        self._define(self.meter_provider.get_meter("connector", __version__))
        self.sink_observer = self.sink_observer_for(DEFAULT_CONNECTION)

    # --- instruments --------------------------------------------------------------------------

    def _define(self, meter: Meter) -> None:
        # Per-record counts are kept in plain counters (an SDK `add` is far dearer on the Kafka
        # thread; bench/README.md) and read by observable counters at scrape time.
        meter.create_observable_counter(
            "spotify_capi.events.delivered",
            [self._observe(self._delivered, ("spotify_capi.event_name",))],
            "{event}",
            "Events Spotify acknowledged",
        )
        meter.create_observable_counter(
            "spotify_capi.events.rejected",
            [self._observe(self._rejected, _FAILURE_LABELS)],
            "{event}",
            "Records refused for good: undecodable, invalid for the transform, or 4xx by Spotify",
        )
        meter.create_observable_counter(
            "spotify_capi.events.dead_lettered",
            [self._observe(self._dead_lettered, _FAILURE_LABELS)],
            "{event}",
            "Records written to the dead-letter topic (every failure, retry exhaustion included)",
        )
        meter.create_observable_counter(
            "spotify_capi.events.skipped",
            [self._observe(self._skipped, ("spotify_capi.reason",))],
            "{event}",
            "Events not sent because the consent rule drops them (consent_denied, consent_missing)",
        )
        meter.create_observable_counter(
            "spotify_capi.prepare.records",
            [self._prepared],
            "{record}",
            "Records prepared, by path (native, python) and, for the Python path, why the native "
            "path did not take them (unknown_schema, writer_schema, consent, unknown_name, "
            "unknown_category, no_route, other; off: the native path is off for the run)",
        )
        meter.create_observable_counter(
            "spotify_capi.events.identifiers",
            [self._observe(self._identifiers, ("spotify_capi.event_name", "spotify_capi.kind"))],
            "{event}",
            "Delivered events by identifier kind they carried (email, phone, ip, device_id, "
            "click_id; ip_only: no identifier but the IP)",
        )
        meter.create_observable_counter(
            "spotify_capi.results.produce_errors",
            [self._produce_errors_observed],
            "{record}",
            "Result and dead-letter records the broker refused for good (each stops the run), "
            "by topic role and librdkafka error name",
        )
        self.retried = meter.create_counter(
            "spotify_capi.requests.retried", "{request}", "Requests retried after a failure"
        )
        self.responses = meter.create_counter(
            "spotify_capi.http.responses", "{response}", "Spotify answers by status class"
        )
        self.auth_failures = meter.create_counter(
            "spotify_capi.auth.failures", "{failure}", "Times Spotify began refusing the token"
        )
        self.fields_removed = meter.create_counter(
            "spotify_capi.fields.removed",
            "{field}",
            "Fields removed from events Spotify refused with 400 and then accepted without them",
        )
        self.fields_stripped = meter.create_counter(
            "spotify_capi.fields.stripped",
            "{event}",
            "Events sent without a field because Spotify refuses it on the connection (learned)",
        )
        meter.create_observable_gauge(
            "spotify_capi.fields.stripped_since",
            [self._stripped_since],
            "s",
            "Unix time since which a connection sends a field no more (learned refusals)",
        )
        self.rate_limit_wait = meter.create_counter(
            "spotify_capi.rate_limit.wait",
            "s",
            "Seconds a ready batch waited for the request-rate cap (sink.max_requests_per_second)",
        )
        self.request_duration = meter.create_histogram(
            "http.client.request.duration",
            "s",
            "Duration of Conversions API requests",
            explicit_bucket_boundaries_advisory=REQUEST_SECONDS_BUCKETS,
        )
        self.batch_size = meter.create_histogram(
            "spotify_capi.batch.size",
            "{event}",
            "Events per Conversions API request",
            explicit_bucket_boundaries_advisory=BATCH_SIZE_BUCKETS,
        )
        meter.create_observable_counter(
            "messaging.client.consumed.messages",
            [self._consumed],
            "{message}",
            "Records consumed from the input topic",
        )
        meter.create_observable_up_down_counter(
            "spotify_capi.events.in_flight",
            [self._gauge(lambda s: s.unsettled)],
            "{event}",
            "Records consumed and not yet settled",
        )
        meter.create_observable_up_down_counter(
            "spotify_capi.partitions.assigned",
            [self._gauge(lambda s: s.assigned)],
            "{partition}",
            "Input partitions assigned to this consumer",
        )
        meter.create_observable_up_down_counter(
            "spotify_capi.partitions.paused",
            [self._gauge(lambda s: s.paused)],
            "{partition}",
            "Input partitions paused (back-pressure, or the token is refused)",
        )
        meter.create_observable_gauge(
            "spotify_capi.consumer.lag",
            [self._lag],
            "{message}",
            "Records of a partition not yet settled: high watermark minus committable offset",
        )
        meter.create_observable_gauge(
            "spotify_capi.auth.failing",
            [self._auth_failing],
            "1",
            "1 while Spotify refuses the connection's token or connection id",
        )
        meter.create_observable_gauge(
            "spotify_capi.broker.down",
            [self._gauge(lambda s: int(s.broker_down))],
            "1",
            "1 while no Kafka broker is reachable",
        )
        meter.create_observable_gauge(
            "spotify_capi.progress.age",
            [self._gauge(lambda s: max(0, self._clock_ms() - s.last_progress_ms) / 1000)],
            "s",
            "Seconds since a record last settled (or since nothing was pending)",
        )
        meter.create_observable_gauge(
            "spotify_capi.delivery.last_success_time",
            [self._last_success],
            "s",
            "Unix time of the last event Spotify acknowledged",
        )
        meter.create_observable_up_down_counter(
            "spotify_capi.http.requests.in_flight",
            [self._per_connection(self._requests_in_flight)],
            "{request}",
            "Conversions API requests in flight now",
        )
        meter.create_observable_gauge(
            "spotify_capi.http.concurrency.limit",
            [self._per_connection(self._in_flight_limit)],
            "{request}",
            "Requests allowed in flight now (adaptive: halved by 429, at most sink.max_in_flight)",
        )
        meter.create_observable_counter(
            "spotify_capi.rebalances",
            [self._rebalances],
            "{rebalance}",
            "Consumer group rebalance callbacks, by kind (assigned, revoked, lost)",
        )
        meter.create_observable_counter(
            "spotify_capi.commits",
            [self._gauge(lambda s: s.commits)],
            "{offset}",
            "Partition offsets committed and acknowledged by the broker",
        )
        meter.create_observable_counter(
            "spotify_capi.commit.failures",
            [self._gauge(lambda s: s.commit_failures)],
            "{failure}",
            "Offset commits the broker refused (the next commit retries them)",
        )
        build = {"version": __version__, "compiled": str(_compiled.compiled()).lower()}
        meter.create_observable_gauge(
            "spotify_capi.build.info",
            [lambda _options: [Observation(1, build)]],
            "1",
            "1, labelled with the connector's version and whether its per-record modules run "
            "compiled (a missing or stale build runs, about twice as slow)",
        )

    # --- feeds --------------------------------------------------------------------------------

    def watch(self, status: PipelineStatus) -> None:
        """Read this pipeline's status at every scrape."""
        self._status = status

    def on_results(self, results: Iterable[DeliveryResult]) -> None:
        """The pipeline's `on_results`: a batch of settled records, on the Kafka thread. The
        delivered ones are tallied locally first, then added once per label set."""
        delivered: list[tuple[str | None, tuple[str, ...]]] = []  # (event name, identifiers)
        latencies: list[float] = []
        delays: list[float] = []
        last = self._last_delivered_ms
        # Once a result: the enum member is read once (a member lookup costs as much as a call)
        # and comparisons stand for max(): half the CPU of this loop (bench/README.md).
        delivered_status = DeliveryStatus.DELIVERED
        for result in results:
            if result.status is not delivered_status:
                self._count_failure(result)
                continue
            delivered.append((result.event_name, result.identifiers))
            acknowledged = result.settled_at_ms
            if acknowledged > last:  # noqa: PLR1730 - a max() call a result costs more
                last = acknowledged
            kafka_time = result.coordinates.timestamp_ms
            if kafka_time is not None:
                latencies.append(
                    (acknowledged - kafka_time if acknowledged > kafka_time else 0) / 1000
                )
            event_time = result.event_time_ms
            if event_time is not None:
                delays.append(
                    (acknowledged - event_time if acknowledged > event_time else 0) / 1000
                )
        if not delivered:
            return
        self._last_delivered_ms = last
        for (event_name, identifiers), n in Counter(delivered).items():
            name = event_name_label(event_name)
            self._delivered[(name,)] += n
            for kind in identifiers:
                self._identifiers[(name, kind)] += n
            if identifiers == ("ip",):
                self._identifiers[(name, "ip_only")] += n
        self.delivery_latency.observe_many(latencies)
        self.event_delay.observe_many(delays)

    def _count_failure(self, result: DeliveryResult) -> None:
        status = result.status
        if status is DeliveryStatus.SKIPPED_NO_CONSENT:
            self._skipped[(_label(result.error_code),)] += 1
            return
        key = (status.value, _label(result.error_code))
        if status is not DeliveryStatus.RETRY_EXHAUSTED:
            self._rejected[key] += 1
        self._dead_lettered[key] += 1

    def on_produce_error(self, role: str, error_name: str) -> None:
        """The result writer's `on_produce_error`: a record the broker refused, on the Kafka
        thread, just before the run stops."""
        self._produce_errors[(role, _label(error_name))] += 1

    def sink_observer_for(self, connection: str) -> SinkMetrics:
        """The observer of one connection's sink: its metrics carry the connection's name."""
        spotify = self._spotify.get(connection)
        url = urlsplit(str(spotify.url) if spotify is not None else "")
        return SinkMetrics(
            self, connection, url.hostname, url.port or _DEFAULT_PORTS.get(url.scheme)
        )

    def in_flight(self, connection: str, requests: int, limit: int) -> None:
        """A sink's requests in flight and its limit (on the HTTP loop; read at scrape time)."""
        self._requests_in_flight[connection] = requests
        self._in_flight_limit[connection] = limit

    def trace_configs(self) -> list[aiohttp.TraceConfig]:
        """aiohttp client tracing for the sink, when traces are exported; else none (no cost)."""
        if self.tracer_provider is None:
            return []
        from opentelemetry.instrumentation._semconv import _StabilityMode
        from opentelemetry.instrumentation.aiohttp_client import create_trace_config

        # Metrics come from SinkMetrics; the instrumentation's own would duplicate them.
        # Span attributes use the stable HTTP conventions, like our metric names.
        return [
            create_trace_config(
                tracer_provider=self.tracer_provider,
                meter_provider=NoOpMeterProvider(),
                sem_conv_opt_in_mode=_StabilityMode.HTTP,
            )
        ]

    def scrape(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        self.meter_provider.shutdown()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()

    # --- observable callbacks (run at scrape time, on the scraping thread) ---------------------

    def _gauge(
        self, read: Callable[[PipelineStatus], float]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            status = self._status
            return [] if status is None else [Observation(read(status))]

        return observe

    @staticmethod
    def _observe(
        counts: Counter[tuple[str, ...]], names: tuple[str, ...]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            # list(): one C-level copy, so the Kafka thread's increments cannot break the loop
            return [
                Observation(n, dict(zip(names, key, strict=True)))
                for key, n in list(counts.items())
            ]

        return observe

    def _produce_errors_observed(self, _options: CallbackOptions) -> Iterable[Observation]:
        # A zero series per role from the start (the metric exists before any error; the
        # error.type series appear with their first error).
        role = "spotify_capi.topic_role"
        zeros = [Observation(0, {role: r}) for r in TOPIC_ROLES]
        return zeros + [
            Observation(n, {role: r, "error.type": name})
            for (r, name), n in list(self._produce_errors.items())
        ]

    def _last_success(self, _options: CallbackOptions) -> Iterable[Observation]:
        last = self._last_delivered_ms
        return [Observation(last / 1000)] if last else []

    @staticmethod
    def _per_connection(
        values: dict[str, int],
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(n, {"connection": name}) for name, n in list(values.items())]

        return observe

    def _rebalances(self, _options: CallbackOptions) -> Iterable[Observation]:
        status = self._status
        if status is None:
            return []
        return [
            Observation(n, {"spotify_capi.rebalance": kind})
            for kind, n in list(status.rebalances.items())
        ]

    def _prepared(self, _options: CallbackOptions) -> Iterable[Observation]:
        status = self._status
        if status is None:
            return []
        return [  # list(): one C-level copy, so the Kafka thread's additions cannot break it
            Observation(n, {"spotify_capi.path": path, "spotify_capi.reason": reason})
            if reason
            else Observation(n, {"spotify_capi.path": path})
            for (path, reason), n in list(status.prepared.items())
        ]

    def _consumed(self, _options: CallbackOptions) -> Iterable[Observation]:
        status = self._status
        if status is None:
            return []
        attributes = {
            "messaging.system": "kafka",
            "messaging.destination.name": self._topic,
            "messaging.consumer.group.name": self._group,
        }
        return [Observation(status.consumed, attributes)]

    def _auth_failing(self, _options: CallbackOptions) -> Iterable[Observation]:
        status = self._status
        if status is None:
            return []
        failing = status.failing_connections
        return [
            Observation(int(name in failing), {"connection": name}) for name in self._connections
        ]

    def _stripped_since(self, _options: CallbackOptions) -> Iterable[Observation]:
        status = self._status
        if status is None:
            return []
        return [
            Observation(
                field.since_ms / 1000,
                {"connection": field.connection, "spotify_capi.field": _label(field.path)},
            )
            for field in status.stripped_fields  # replaced whole by the Kafka thread
        ]

    def _lag(self, _options: CallbackOptions) -> Iterable[Observation]:
        status = self._status
        if status is None:
            return []
        lag = status.lag  # replaced whole by the Kafka thread, never mutated: safe to read
        return [
            Observation(
                count,
                {"messaging.destination.name": topic, "messaging.destination.partition.id": str(p)},
            )
            for (topic, p), count in sorted(lag.items())
        ]


class Buckets:
    """A cumulative histogram for per-record values: a bisect and three additions per value.

    The SDK's Histogram.record is too dear once per record on the Kafka thread (bench/README.md);
    these two per-record histograms are exposed by `HistogramCollector` in the same registry,
    named as the OpenTelemetry exporter would name them.
    """

    __slots__ = ("bounds", "count", "counts", "documentation", "name", "sum")

    def __init__(self, name: str, documentation: str, bounds: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0
        self.count = 0

    def observe_many(self, values: Sequence[float]) -> None:
        counts, bounds = self.counts, self.bounds
        for value in values:
            counts[bisect_left(bounds, value)] += 1  # bucket `le` bound: value <= bound
        self.sum += sum(values)
        self.count += len(values)


class DropEmptyLabels:
    """Exposes a registry's metrics without their empty labels.

    The OpenTelemetry exporter gives every series of a metric the same label names and fills
    the ones a series lacks with "" (`error_type=""` on a 2xx duration); an empty label means
    an absent one to Prometheus, so dropping it changes no query and leaves no `=""` to read.
    """

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        for metric in self._source.collect():
            metric.samples = [
                s._replace(labels={k: v for k, v in s.labels.items() if v != ""})
                if "" in s.labels.values()
                else s
                for s in metric.samples
            ]
            yield metric


class HistogramCollector:
    """Exposes `Buckets` to prometheus_client (a custom collector)."""

    def __init__(self, histograms: Sequence[Buckets]) -> None:
        self._histograms = tuple(histograms)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        for h in self._histograms:
            counts, total = list(h.counts), h.sum
            cumulative, buckets = 0, []
            for bound, count in zip((*h.bounds, math.inf), counts, strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            yield HistogramMetricFamily(
                h.name, h.documentation, buckets=buckets, sum_value=total, unit="seconds"
            )


def _le(bound: float) -> str:
    if math.isinf(bound):
        return "+Inf"
    return str(int(bound)) if bound.is_integer() else repr(bound)


class SinkMetrics:
    """The sink's observer: called on the HTTP event loop, so it only adds to instruments."""

    def __init__(
        self, telemetry: Telemetry, connection: str, host: str | None, port: int | None
    ) -> None:
        self._t = telemetry
        self._connection = connection  # a configured name: a bounded label
        self._server: dict[str, str | int] = {}  # the semantic conventions' server.* attributes
        if host:
            self._server["server.address"] = host
        if port:
            self._server["server.port"] = port

    def on_request(self, status: int | None, events: int, seconds: float) -> None:
        t = self._t
        attributes: dict[str, str | int] = {
            "http.request.method": "POST",
            "connection": self._connection,
            **self._server,
        }
        if status is None:
            attributes["error.type"] = "transport"
        else:
            attributes["http.response.status_code"] = status
            if status >= 400:  # the conventions: an error answer names its status as error.type
                attributes["error.type"] = str(status)
        t.request_duration.record(seconds, attributes)
        t.batch_size.record(events)
        t.responses.add(
            1, {"http.response.status_class": status_class(status), "connection": self._connection}
        )

    def on_retry(self, cause: str) -> None:
        self._t.retried.add(1, {"error.type": _label(cause), "connection": self._connection})

    def on_auth_state(self, failing: bool) -> None:
        if failing:
            self._t.auth_failures.add(1, {"connection": self._connection})

    def on_in_flight(self, requests: int, limit: int) -> None:
        self._t.in_flight(self._connection, requests, limit)

    def on_field_removed(self, field: str) -> None:
        # A contract path from a fixed list (connector/sink/heal.py): a bounded label.
        self._t.fields_removed.add(
            1, {"spotify_capi.field": _label(field), "connection": self._connection}
        )

    def on_fields_stripped(self, field: str, events: int) -> None:
        self._t.fields_stripped.add(
            events, {"spotify_capi.field": _label(field), "connection": self._connection}
        )

    def on_rate_wait(self, seconds: float) -> None:
        self._t.rate_limit_wait.add(seconds, {"connection": self._connection})
