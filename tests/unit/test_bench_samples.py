"""The benchmark's event shapes: `typical_events` is `sample_events` cut to a web event's size."""

from __future__ import annotations

from capi_devtools.samples import (
    DEMO_EVENT_NAME_MAPPING,
    TYPICAL_PROPERTIES,
    sample_events,
    typical_events,
)
from connector.config import DecodeSettings, TransformSettings
from connector.models import SourceCoordinates
from connector.prepare.preparer import Preparer
from connector.schemas import avro

SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)
NOW_MS = 1_767_225_900_000  # five minutes after the samples' first event


def test_typical_events_keep_only_the_typical_properties_of_the_same_events() -> None:
    full, typical = list(sample_events(200, seed=3)), list(typical_events(200, seed=3))
    for whole, cut in zip(full, typical, strict=True):
        assert cut["event"] == whole["event"]
        assert cut["timestamp"] == whole["timestamp"]
        assert cut["properties"] == {
            k: v for k, v in whole["properties"].items() if k in TYPICAL_PROPERTIES
        }
    assert {"email", "phone", "$ip", "$user_agent"} <= set(typical[0]["properties"])


def test_typical_events_encode_to_about_half_the_full_size() -> None:
    def mean_size(events: list[dict[str, object]]) -> float:
        return sum(len(avro.encode(SCHEMA, e)) for e in events) / len(events)

    typical = mean_size(list(typical_events(500)))
    full = mean_size(list(sample_events(500)))
    assert 300 <= typical <= 380, typical
    assert 600 <= full <= 720, full


def test_typical_events_are_all_accepted_like_the_full_ones() -> None:
    preparer = Preparer(
        DecodeSettings(), TransformSettings(event_name_mapping=DEMO_EVENT_NAME_MAPPING)
    )

    def kinds(events: list[dict[str, object]]) -> list[str]:
        records = [
            (avro.encode(SCHEMA, e), SourceCoordinates("events", 0, i, NOW_MS))
            for i, e in enumerate(events)
        ]
        return [type(p).__name__ for p in preparer.prepare(records, NOW_MS)]

    typical = kinds(list(typical_events(300)))
    assert typical == kinds(list(sample_events(300)))
    assert typical.count("Ready") == 300
