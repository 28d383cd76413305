"""Two Spotify connections on one bus: a refused token holds only its own connection's events."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import DEFAULT_TOKEN, SandboxSettings, SandboxThread
from connector.config import ConnectionSettings, RoutingSettings, Settings, SinkSettings
from connector.models import DeliveryResult
from connector.observe.health import Phase, assess
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import (
    committed_and_end_offsets,
    connector_topics,
    create_topics,
    produce_events,
    read_all,
    read_results,
)

pytestmark = pytest.mark.integration

GLOBEX_TOKEN = "globex-token-not-a-secret"
GLOBEX_CONNECTION_ID = str(uuid.UUID(int=7))


def brand(index: int) -> str:
    return "globex" if index % 2 else "acme"


def two_connection_settings(bootstrap: str, topics: str, url: str) -> Settings:
    settings = connector_settings(
        bootstrap, topics, url, sink=SinkSettings(auth_retry_interval_s=0.5, linger_ms=20)
    )
    main_topic = topics.split(",", maxsplit=1)[0]
    kafka = settings.kafka.model_copy(
        update={"results_topic": f"{main_topic}-results", "dlq_topic": f"{main_topic}-dlq"}
    )
    globex = ConnectionSettings(connection_id=GLOBEX_CONNECTION_ID, token=SecretStr(GLOBEX_TOKEN))
    spotify = settings.spotify.model_copy(update={"connections": {"globex": globex}})
    routing = RoutingSettings(
        by="property", property="brand", routes={"acme": "default", "globex": "globex"}
    )
    return settings.model_copy(update={"kafka": kafka, "spotify": spotify, "routing": routing})


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)


def ids(results: list[DeliveryResult], connection: str) -> set[str | None]:
    return {r.event_id for r in results if r.connection == connection}


def test_a_revoked_token_holds_only_its_connection_s_events_until_it_works_again(
    kafka_bootstrap: str,
) -> None:
    topic = connector_topics(kafka_bootstrap)
    other_topic = f"{topic}-b"
    create_topics(kafka_bootstrap, other_topic)

    def events(indexes: range) -> list[dict[str, object]]:
        return [tracking_record(i, brand=brand(i)) for i in indexes]

    # Phase 1 on both topics; the second topic carries globex events only.
    produce_events(kafka_bootstrap, topic, events(range(200)))
    produce_events(kafka_bootstrap, other_topic, events(range(1001, 1101, 2)))
    sandbox_settings = SandboxSettings(
        tokens=(SecretStr(DEFAULT_TOKEN), SecretStr(GLOBEX_TOKEN)),
        connection_ids=(SandboxSettings().connection_ids[0], GLOBEX_CONNECTION_ID),
    )
    with SandboxThread(sandbox_settings) as sandbox:
        settings = two_connection_settings(kafka_bootstrap, f"{topic},{other_topic}", sandbox.url)
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(250)
            assert connector.pipeline.status.failing_connections == ()

            sandbox.configure(tokens=[DEFAULT_TOKEN])  # globex's token is revoked
            produce_events(kafka_bootstrap, topic, events(range(200, 400)))
            produce_events(kafka_bootstrap, other_topic, events(range(1101, 1201, 2)))
            status = connector.pipeline.status
            wait_until(lambda: status.failing_connections == ("globex",), "globex refused")
            acme_late = {f"order-{i:07d}" for i in range(200, 400, 2)}
            wait_until(lambda: acme_late <= ids(connector.results, "default"), "acme delivered")
            time.sleep(1.5)  # the prober retries globex several times meanwhile

            globex_late = {f"order-{i:07d}" for i in [*range(201, 400, 2), *range(1101, 1201, 2)]}
            assert not globex_late & ids(connector.results, "globex")  # held: no result yet
            assert len(ids(connector.results, "globex")) == 100 + 50  # phase 1's
            assert status.paused == 0  # one refused connection of two pauses nothing
            readiness = assess(Phase.RUNNING, status, 300, int(time.time() * 1000))
            auth = next(c for c in readiness.checks if c.name == "spotify_auth")
            assert not auth.ok
            assert auth.detail.endswith("of connection globex")
            committed, _ = committed_and_end_offsets(
                kafka_bootstrap, settings.kafka.group_id, topic, 1
            )
            assert committed[0] <= 201  # never past the first held globex record
            committed_b, _ = committed_and_end_offsets(
                kafka_bootstrap, settings.kafka.group_id, other_topic, 1
            )
            assert committed_b[0] <= 50
            assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=1) == []

            sandbox.configure(tokens=[DEFAULT_TOKEN, GLOBEX_TOKEN])  # the token works again
            results = connector.wait_for_results(500, timeout_s=60)
            wait_until(lambda: status.failing_connections == (), "globex accepted again")
        accepted = sandbox.state.accepted_ids()
        accepted_acme = sandbox.state.accepted_ids(sandbox_settings.connection_ids[0])
        accepted_globex = sandbox.state.accepted_ids(GLOBEX_CONNECTION_ID)

    assert Counter(r.status.value for r in results) == {"DELIVERED": 500}
    assert ids(results, "default") == {f"order-{i:07d}" for i in range(0, 400, 2)}
    expected_globex = {f"order-{i:07d}" for i in [*range(1, 400, 2), *range(1001, 1201, 2)]}
    assert ids(results, "globex") == expected_globex
    assert set(accepted) == ids(results, "default") | expected_globex
    assert set(accepted_globex) == expected_globex  # in globex's envelope, counted by event id
    assert set(accepted_acme) == ids(results, "default")
    group = settings.kafka.group_id
    assert committed_and_end_offsets(kafka_bootstrap, group, topic, 1) == ([400], [400])
    assert committed_and_end_offsets(kafka_bootstrap, group, other_topic, 1) == ([100], [100])
    stored = read_results(kafka_bootstrap, f"{topic}-results", 500)
    assert Counter(r["connection"] for r in stored) == {"default": 200, "globex": 300}
    assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=1) == []
