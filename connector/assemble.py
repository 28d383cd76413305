"""The real parts of a pipeline wired together: Kafka in, Spotify out, results to Kafka."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp
from opentelemetry.sdk.trace import TracerProvider

from connector.config import Settings, SinkSettings, read_settings
from connector.errors import ConfigError
from connector.kafka.client_config import check_client_properties
from connector.kafka.results import ResultWriter
from connector.kafka.source import KafkaSource
from connector.models import DeliveryResult, SourceCoordinates, SourceRecord
from connector.observe.tracing import BatchSpans
from connector.pipeline import Pipeline
from connector.ports import OutcomesCallback, ProduceErrorCallback
from connector.prepare.choice import choose
from connector.process.cpus import worker_count
from connector.results.formats import result_format
from connector.sink import NullObserver, SinkObserver, SpotifySink
from connector.sink.connections import ConnectionSinks
from connector.transform import allowed_fields
from connector.transform.taxonomy import CategoryResolver


def build_pipeline(
    settings: Settings,
    *,
    sink_observers: Callable[[str], SinkObserver] | None = None,
    on_results: Callable[[Sequence[DeliveryResult]], None] | None = None,
    on_produce_error: ProduceErrorCallback | None = None,
    record_filter: Callable[[SourceRecord], bool] | None = None,
    coordinates_for: Callable[[SourceRecord], SourceCoordinates] | None = None,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
    tracer_provider: TracerProvider | None = None,
    backfill: str | None = None,
) -> Pipeline:
    """A pipeline over the input topics, the Spotify connections and the results and DLQ
    topics. `sink_observers` gives each connection's sink its observer, by connection name;
    `on_produce_error` hears of each result or dead-letter record the broker refused;
    `backfill` names the backfill whose results it writes."""
    settings.require_delivery()
    connections = settings.spotify_connections()

    def spotify_sinks(answer: OutcomesCallback) -> ConnectionSinks:
        return ConnectionSinks(
            {
                name: SpotifySink(
                    spotify,
                    sink_settings(settings, name),
                    answer,
                    observer=NullObserver() if sink_observers is None else sink_observers(name),
                    trace_configs=trace_configs,
                    name=name,
                )
                for name, spotify in connections.items()
            }
        )

    return Pipeline(
        settings,
        source=KafkaSource(settings.kafka),
        writer=ResultWriter(
            settings.kafka,
            *result_format(settings.kafka, settings.decode, backfill),
            on_produce_error=on_produce_error,
        ),
        sink_factory=spotify_sinks,
        prepare=choose(settings),
        spans=BatchSpans(tracer_provider, settings),
        on_results=on_results,
        record_filter=record_filter,
        coordinates_for=coordinates_for,
    )


def sink_settings(settings: Settings, connection: str) -> SinkSettings:
    """The sink settings of one connection in this process: its own request-rate cap, shared
    among the processes of `run --workers N` (each takes a Nth)."""
    rate = settings.max_requests_per_second(connection)
    if rate is not None:
        rate /= worker_count()
    return settings.sink.model_copy(update={"max_requests_per_second": rate})


def load_settings(config_file: Path | None = None) -> Settings:
    """The settings (`connector.config.read_settings`), checked against the parts they
    configure: ConfigError with one line naming the setting, never its value."""
    settings = read_settings(config_file)
    check_settings(settings)
    return settings


def check_settings(settings: Settings) -> None:
    """What only a part can judge: the property table, the taxonomy, librdkafka."""
    transform = settings.transform
    _judged("transform.allowed_fields", lambda: allowed_fields.check(transform.allowed_fields))
    if transform.content_category_mapping:
        _judged("transform", lambda: CategoryResolver(transform.content_category_mapping))
    check_client_properties(settings.kafka)


def _judged(setting: str, check: Callable[[], object]) -> None:
    try:
        check()
    except (
        ValueError
    ) as exc:  # worded as a setting the settings refused (describe_validation_error)
        raise ConfigError(f"invalid settings: {setting}: Value error, {exc}") from None
