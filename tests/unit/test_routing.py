"""Routing: which named Spotify connection an event goes to, and how connections are set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from connector.assemble import load_settings
from connector.config import (
    ConnectionSettings,
    DecodeSettings,
    KafkaSettings,
    RoutingSettings,
    Settings,
    SpotifySettings,
    TransformSettings,
    well_known_values,
)
from connector.errors import ConfigError
from connector.models import Rejected, SourceCoordinates, TrackingEvent
from connector.prepare.pool import PreparePool
from connector.prepare.preparer import Preparer, Ready
from connector.prepare.routing import Router
from connector.schemas import avro
from tests.support.events import tracking_record

NOW_MS = 1_769_172_000_000
SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)


def event(**properties: object) -> TrackingEvent:
    return TrackingEvent("Order Completed", dict(properties))  # type: ignore[arg-type]


def test_the_topic_rule_picks_the_connection_of_the_input_topic() -> None:
    router = Router(RoutingSettings(routes={"eu-events": "eu", "us-events": "us"}, default=None))
    assert router.route("eu-events", event()) == "eu"
    assert router.route("us-events", event()) == "us"


def test_the_property_rule_picks_the_connection_by_the_property_s_value() -> None:
    routing = RoutingSettings(
        by="property", property="brand", routes={"acme": "acme", "7": "seven"}, default=None
    )
    router = Router(routing)
    assert router.route("events", event(brand="acme")) == "acme"
    assert router.route("events", event(brand=" acme ")) == "acme"
    assert router.route("events", event(brand=7)) == "seven"


def test_an_event_no_route_names_goes_to_the_default_connection() -> None:
    routing = RoutingSettings(by="property", property="brand", routes={"acme": "acme"})
    router = Router(routing)
    assert router.route("events", event(brand="other")) == "default"
    assert router.route("events", event()) == "default"
    by_topic = Router(RoutingSettings(routes={"eu-events": "eu"}, default="us"))
    assert by_topic.route("elsewhere", event()) == "us"


def test_without_a_default_an_unrouted_event_is_a_no_route_rejection() -> None:
    routing = RoutingSettings(
        by="property", property="brand", routes={"acme": "acme"}, default=None
    )
    router = Router(routing)
    assert router.route("events", event(brand="other")) is None
    assert router.route("events", event(brand=["acme"])) is None  # a list routes nowhere
    rejection = router.no_route()
    assert (rejection.reason, rejection.field) == ("no_route", "brand")
    assert "other" not in rejection.message


def test_the_preparer_names_the_connection_or_rejects_with_no_route() -> None:
    routing = RoutingSettings(
        by="property", property="brand", routes={"acme": "acme"}, default=None
    )
    preparer = Preparer(DecodeSettings(), TransformSettings(), routing)
    records = [
        (avro.encode(SCHEMA, tracking_record(1, brand="acme")), SourceCoordinates("t", 0, 1)),
        (avro.encode(SCHEMA, tracking_record(2, brand="nope")), SourceCoordinates("t", 0, 2)),
    ]
    routed, unrouted = preparer.prepare(records, NOW_MS)
    assert isinstance(routed, Ready)
    assert routed.connection == "acme"
    assert isinstance(unrouted, Rejected)
    assert unrouted.rejection.reason == "no_route"
    assert unrouted.event_id == "order-0000002"


def test_without_routing_every_event_goes_to_the_default_connection() -> None:
    preparer = Preparer(DecodeSettings(), TransformSettings())
    records = [(avro.encode(SCHEMA, tracking_record(1)), SourceCoordinates("t", 0, 1))]
    [ready] = preparer.prepare(records, NOW_MS)
    assert isinstance(ready, Ready)
    assert ready.connection == "default"


def test_worker_processes_route_as_the_kafka_thread_does() -> None:
    routing = RoutingSettings(routes={"eu-events": "eu"}, default=None)
    pool = PreparePool(DecodeSettings(), TransformSettings(), 1, routing)
    try:
        value = avro.encode(SCHEMA, tracking_record(1))
        records = [
            (value, SourceCoordinates("eu-events", 0, 1)),
            (value, SourceCoordinates("x", 0, 2)),
        ]
        routed, unrouted = pool.submit(records, NOW_MS).result()
    finally:
        pool.close()
    assert isinstance(routed, Ready)
    assert routed.connection == "eu"
    assert isinstance(unrouted, Rejected)
    assert (unrouted.rejection.reason, unrouted.rejection.field) == ("no_route", None)


def test_named_connections_come_from_short_variables_and_files(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n", encoding="utf-8")
    values = well_known_values(
        {
            "SPOTIFY_CAPI_TOKEN": "default-token",
            "SPOTIFY_CAPI_BRAND_B_TOKEN_FILE": str(token_file),
            "SPOTIFY_CAPI_BRAND_B_CONNECTION_ID": "conn-b",
            "SPOTIFY_CAPI_EU_TOKEN": "plain",
            "SPOTIFY_CAPI_EU_TOKEN_FILE": str(token_file),  # the plain variable wins
            "SPOTIFY_CAPI_CONNECTION_ID": "conn-default",
        }
    )
    assert values["spotify"] == {
        "token": "default-token",
        "connection_id": "conn-default",
        "connections": {
            # The file is read again when it changes (connector/sink/token.py).
            "brand_b": {
                "token": "file-token",
                "token_file": str(token_file),
                "connection_id": "conn-b",
            },
            "eu": {"token": "plain"},
        },
    }


def test_a_named_connection_s_missing_secret_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPOTIFY_CAPI_BRAND_B_CONNECTION_ID", "conn-b")
    monkeypatch.setenv("CONNECTOR_ROUTING__DEFAULT", "brand_b")
    settings = load_settings()
    assert list(settings.spotify_connections()) == ["brand_b"]
    with pytest.raises(
        ConfigError,
        match=r"spotify\.connections\.brand_b\.token is not set \(SPOTIFY_CAPI_BRAND_B_TOKEN or",
    ):
        settings.require_delivery()
    monkeypatch.setenv("SPOTIFY_CAPI_BRAND_B_TOKEN", "a token with spaces")
    with pytest.raises(ConfigError, match="cannot be sent") as raised:
        load_settings().require_delivery()
    assert "a token with spaces" not in str(raised.value)


def test_the_default_connection_is_spotify_token_and_connection_id() -> None:
    settings = Settings(
        spotify=SpotifySettings(
            token=SecretStr("t0"),
            connection_id="c0",
            connections={"brand_b": ConnectionSettings(connection_id="cb", token=SecretStr("tb"))},
        ),
        routing=RoutingSettings(by="property", property="brand", routes={"b": "brand_b"}),
    )
    connections = settings.spotify_connections()
    assert list(connections) == ["default", "brand_b"]
    assert connections["brand_b"].connection_id == "cb"
    assert connections["brand_b"].bearer_token() == "tb"
    assert connections["brand_b"].url == settings.spotify.url
    settings.require_delivery()


@pytest.mark.parametrize(
    ("connections", "routing", "message"),
    [
        ({"default": {}}, {}, "'default' is spotify.token"),
        ({"Brand-B": {}}, {}, "is not a name"),
        ({}, {"routes": {"eu": "eu"}}, "unknown connections: \\['eu'\\]"),
        ({}, {"default": "nowhere"}, "unknown connections: \\['nowhere'\\]"),
        ({}, {"by": "property"}, "needs property"),
    ],
)
def test_bad_connections_or_routes_are_refused_at_load(
    tmp_path: Path, connections: dict[str, object], routing: dict[str, object], message: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"spotify": {"connections": connections}, "routing": routing}))
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_input_topics_are_a_list_or_one_pattern() -> None:
    assert KafkaSettings(input_topic="a, b,c").input_topics == ["a", "b", "c"]
    assert KafkaSettings(input_topic="a, b").named_input_topics == ["a", "b"]
    pattern = KafkaSettings(input_topic="^brand-.*,x")
    assert pattern.input_topics == ["^brand-.*,x"]
    assert pattern.named_input_topics == []
