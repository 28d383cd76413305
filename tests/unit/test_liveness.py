"""Liveness follows the Kafka thread's heartbeat: a blocked poll loop fails /healthz, while
downstream trouble (a refused token, brokers down) fails readiness only."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable

from connector.config import PipelineSettings, Settings, TelemetrySettings
from connector.observe.health import HealthServer, HealthState, Phase, beating
from connector.pipeline import Pipeline
from connector.ports import PipelineStatus
from connector.prepare.choice import choose
from tests.support.pipeline_doubles import (
    TOPIC,
    Assign,
    Do,
    MemoryResults,
    MemorySink,
    Records,
    ScriptedSource,
    Until,
    record,
)

LIVENESS_S = 0.5
WITHIN_S = 10.0


def _healthz(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_an_old_heartbeat_fails_liveness_only_while_running() -> None:
    status = PipelineStatus(heartbeat_ms=1_000_000)
    at_limit = beating(Phase.RUNNING, status, 60.0, 1_060_000)
    assert (at_limit.alive, at_limit.heartbeat_age_s) == (True, 60.0)
    past = beating(Phase.RUNNING, status, 60.0, 1_060_001)
    assert past.alive is False
    assert past.to_wire(Phase.RUNNING) == {
        "status": "hung",
        "phase": "running",
        "heartbeat_age_s": 60.0,
    }
    # Draining is bounded by the drain timeout; before the start nothing beats yet.
    assert beating(Phase.STOPPING, status, 60.0, 9_000_000).alive is True
    assert beating(Phase.STARTING, None, 60.0, 9_000_000).to_wire(Phase.STARTING) == {
        "status": "alive",
        "phase": "starting",
    }


def test_downstream_trouble_fails_readiness_but_never_liveness() -> None:
    now_ms = 1_000_000
    state = HealthState(60.0, lambda: now_ms, liveness_timeout_s=60.0)
    state.running(
        PipelineStatus(
            heartbeat_ms=now_ms,
            auth_failing=True,
            failing_connections=("default",),
            broker_down=True,
        )
    )
    assert state.readiness().to_wire()["failing"] == ["kafka", "spotify_auth"]
    assert state.liveness().alive is True


def test_a_blocked_poll_loop_turns_healthz_503_and_a_free_one_200_again() -> None:
    stop = threading.Event()
    release = threading.Event()
    results = MemoryResults()
    source = ScriptedSource(
        deque(
            [
                Assign([(TOPIC, 0)]),
                Records([record(0, 0)]),
                Until(lambda: len(results.stored) == 1, "one result"),
                Do(lambda: release.wait(WITHIN_S * 3)),  # a poll that does not return
                Until(stop.is_set, "the test ends the run"),
            ]
        ),
        stop,
    )
    connector_settings = Settings(pipeline=PipelineSettings(drain_timeout_s=0.5))
    pipeline = Pipeline(
        connector_settings,
        source=source,
        writer=results,
        sink_factory=MemorySink().factory,
        prepare=choose(connector_settings),
    )
    state = HealthState(300.0, liveness_timeout_s=LIVENESS_S)
    state.running(pipeline.status)
    settings = TelemetrySettings(health_host="127.0.0.1", health_port=0)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run(stop)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    with HealthServer(settings, state) as server:
        kafka_thread = threading.Thread(target=run, name="kafka")
        kafka_thread.start()
        try:
            _until(lambda: len(results.stored) == 1, "the loop delivers a record")
            status, body = _healthz(server.url)
            assert (status, body["status"]) == (200, "alive")

            # The Do step now blocks the poll: the heartbeat ages past the timeout.
            _until(lambda: _healthz(server.url)[0] == 503, "/healthz fails once the loop hangs")
            status, body = _healthz(server.url)
            assert (status, body["status"], body["phase"]) == (503, "hung", "running")
            assert isinstance(body["heartbeat_age_s"], float)
            assert body["heartbeat_age_s"] >= LIVENESS_S  # rounded to 0.1 s
            assert state.readiness().ready  # nothing pending: the hang is liveness's to catch

            release.set()
            _until(lambda: _healthz(server.url)[0] == 200, "/healthz recovers with the loop")
        finally:
            release.set()
            stop.set()
            kafka_thread.join(WITHIN_S)
    assert not kafka_thread.is_alive()
    assert failures == []
