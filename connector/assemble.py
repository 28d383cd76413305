"""The real parts of a pipeline wired together: Kafka in, Spotify out, results to Kafka."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aiohttp

from connector.config import Settings
from connector.kafka.results import ResultWriter
from connector.kafka.source import KafkaSource
from connector.models import DeliveryResult, SourceCoordinates, SourceRecord
from connector.pipeline import Pipeline
from connector.ports import OutcomesCallback
from connector.sink import NullObserver, SinkObserver, SpotifySink


def build_pipeline(
    settings: Settings,
    *,
    sink_observer: SinkObserver | None = None,
    on_result: Callable[[DeliveryResult], None] | None = None,
    record_filter: Callable[[SourceRecord], bool] | None = None,
    coordinates_for: Callable[[SourceRecord], SourceCoordinates] | None = None,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
) -> Pipeline:
    """A pipeline over the input topic, the Spotify endpoint and the results and DLQ topics."""
    settings.require_delivery()

    def spotify_sink(answer: OutcomesCallback) -> SpotifySink:
        return SpotifySink(
            settings.spotify,
            settings.sink,
            answer,
            observer=sink_observer or NullObserver(),
            trace_configs=trace_configs,
        )

    return Pipeline(
        settings,
        source=KafkaSource(settings.kafka),
        writer=ResultWriter(settings.kafka),
        sink_factory=spotify_sink,
        on_result=on_result,
        record_filter=record_filter,
        coordinates_for=coordinates_for,
    )
