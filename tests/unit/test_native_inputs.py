"""What the native path took and why it declined the rest, counted by value: the preparer's
counts (in the Kafka thread and through a prepare process), the choice that holds them, and the
metric `spotify_capi.prepare.records` read from the pipeline status at scrape time. And the
allow-list's `not_allowed` identifiers on the native path, by value.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from capi_devtools.samples import typical_events
from connector.config import (
    DecodeSettings,
    KafkaSettings,
    RoutingSettings,
    Settings,
    TransformSettings,
)
from connector.models import SourceCoordinates
from connector.observe.telemetry import Telemetry
from connector.ports import PipelineStatus
from connector.prepare.choice import choose
from connector.prepare.pool import PreparePool
from connector.prepare.preparer import Preparer, Ready
from connector.schemas import avro
from tests.support import differential

SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)
NOW_MS = differential.NOW_MS
START_MS = 1_767_225_600_000
GROUPS = differential.GROUPS_PROPERTY


def _event(**changes: Any) -> dict[str, Any]:
    """A typical VIEW event granting C0004, with `changes` to its properties (None: removed)."""
    event = next(typical_events(1, seed=3))
    properties = {**event["properties"], "spotify_event_name": "VIEW", GROUPS: "C0001,C0004"}
    properties.update(changes)
    properties = {k: v for k, v in properties.items() if v is not None}
    return {**event, "event": "Page Viewed", "properties": properties}


def _batch(values: list[bytes]) -> list[tuple[bytes, SourceCoordinates]]:
    return [(v, SourceCoordinates("events", 0, n, START_MS)) for n, v in enumerate(values)]


TRANSFORM = differential.category_allow_list_settings()
ROUTING = RoutingSettings(by="property", property="brand", routes={"shop": "default"}, default=None)


def test_the_preparer_counts_each_path_and_why_by_value() -> None:
    routed = [
        _event(brand="shop"),
        _event(brand="shop", **{"$event_id": "e-2"}),
        _event(brand="shop", **{"$event_id": "e-3"}),
        _event(brand="shop", **{GROUPS: "C0001"}),
        _event(brand="shop", **{GROUPS: "C0004:0"}),
        {**_event(brand="shop", spotify_event_name=None), "event": "add to cart"},
        _event(brand="shop", email="not an e-mail"),
        _event(brand="nowhere"),
    ]
    batch = _batch([*(avro.encode(SCHEMA, e) for e in routed), b""])
    preparer = Preparer(DecodeSettings(), TRANSFORM, ROUTING)
    assert preparer.native
    preparer.prepare(batch, NOW_MS)
    assert preparer.counts == Counter(
        {
            ("native", ""): 3,
            ("python", "consent"): 2,
            ("python", "unknown_name"): 1,
            ("python", "other"): 2,  # the warning, the empty value
            ("python", "no_route"): 1,
        }
    )
    preparer.prepare(batch, NOW_MS)  # the own name is known now
    assert preparer.counts == Counter(
        {
            ("native", ""): 7,
            ("python", "consent"): 4,
            ("python", "unknown_name"): 1,
            ("python", "other"): 4,
            ("python", "no_route"): 2,
        }
    )
    off = Preparer(DecodeSettings(), TRANSFORM, ROUTING, native=False)
    off.prepare(batch, NOW_MS)
    assert off.counts == Counter({("python", "off"): 9})


def test_a_prepare_process_sends_its_counts_back_with_each_batch() -> None:
    batch = _batch([avro.encode(SCHEMA, _event()), avro.encode(SCHEMA, _event(**{GROUPS: ""}))])
    pool = PreparePool(DecodeSettings(), TRANSFORM, 1)
    try:
        assert pool.counts == Counter()
        for _ in range(2):
            pool.submit(batch, NOW_MS).result()
        assert pool.counts == Counter({("native", ""): 2, ("python", "consent"): 2})
    finally:
        pool.close()


def test_the_preparer_a_choice_opens_counts_into_the_choice() -> None:
    settings = Settings(transform=TRANSFORM, pipeline={"prepare_processes": 0})  # type: ignore[arg-type]
    chosen = choose(settings)
    preparer = chosen.open(settings)
    try:
        preparer.submit(_batch([avro.encode(SCHEMA, _event())]), NOW_MS).result()
    finally:
        preparer.close()
    assert chosen.counts == Counter({("native", ""): 1})
    assert choose(settings).counts is not chosen.counts  # each choice its own


def test_the_metric_reads_the_counts_by_path_and_reason() -> None:
    telemetry = Telemetry(Settings(kafka=KafkaSettings(input_topic="events", group_id="g1")))
    status = PipelineStatus()
    telemetry.watch(status)
    status.prepared.update({("native", ""): 7, ("python", "consent"): 4, ("python", "off"): 1})
    scraped = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(telemetry.scrape().decode())
        for s in family.samples
        if s.name.startswith("spotify_capi_prepare_records")
    }
    name = "spotify_capi_prepare_records_total"
    assert scraped == {
        (name, frozenset({("spotify_capi_path", "native")})): 7.0,
        (
            name,
            frozenset({("spotify_capi_path", "python"), ("spotify_capi_reason", "consent")}),
        ): 4.0,
        (name, frozenset({("spotify_capi_path", "python"), ("spotify_capi_reason", "off")})): 1.0,
    }


def test_identifiers_the_allow_list_takes_out_are_reported_not_allowed_natively() -> None:
    """The e-mail and phone allowed, the IP and click id not: the Ready says so, as Python's."""
    transform = TransformSettings(
        allowed_fields=("user_data.hashed_emails", "user_data.hashed_phone_number")
    )
    event = _event(**{"$spclid": "spclid-1", "$ip": "203.0.113.9"})
    batch = _batch([avro.encode(SCHEMA, event)])
    native = Preparer(DecodeSettings(), transform)
    python = Preparer(DecodeSettings(), transform, native=False)
    assert native._native is not None
    (fast,) = native._native.prepare_batch(batch, NOW_MS)
    assert type(fast) is tuple
    (ready,) = native.prepare(batch, NOW_MS)
    assert isinstance(ready, Ready)
    assert ready == python.prepare(batch, NOW_MS)[0]
    assert ready.identifiers.carried == ("email", "phone")
    assert ready.identifiers.dropped == ("ip:not_allowed", "click_id:not_allowed")
