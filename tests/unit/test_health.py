"""Readiness rules with a fake clock, and the probe server over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from connector.config import TelemetrySettings
from connector.errors import ConfigError
from connector.observe.health import HealthServer, HealthState, Phase, assess, started
from connector.ports import PipelineStatus
from connector.sink import StrippedField

STALL_S = 60.0


class FakeClock:
    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def running_status(**changes: object) -> PipelineStatus:
    status = PipelineStatus(started_at_ms=0, last_progress_ms=1_000_000)
    for name, value in changes.items():
        setattr(status, name, value)
    return status


def test_not_ready_before_the_pipeline_runs_and_once_it_stops() -> None:
    starting = assess(Phase.STARTING, None, STALL_S, 0)
    assert not starting.ready
    assert starting.to_wire() == {
        "ready": False,
        "failing": ["pipeline"],
        "checks": {"pipeline": {"ok": False, "detail": "starting"}},
    }
    stopping = assess(Phase.STOPPING, running_status(), STALL_S, 1_000_000)
    assert stopping.to_wire()["failing"] == ["pipeline"]


def test_ready_while_waiting_for_assignment() -> None:
    readiness = assess(Phase.RUNNING, running_status(assigned=0), STALL_S, 1_000_000)
    wire = readiness.to_wire()
    assert wire["ready"] is True
    assert wire["failing"] == []
    assert wire["checks"]["assignment"] == {"ok": True, "detail": "waiting for assignment"}
    assert sorted(wire["checks"]) == [
        "assignment",
        "kafka",
        "pipeline",
        "progress",
        "refused_fields",
        "spotify_auth",
    ]
    assert wire["checks"]["refused_fields"] == {"ok": True, "detail": "none stripped"}


def test_broker_down_and_refused_token_each_fail_their_own_check() -> None:
    down = assess(Phase.RUNNING, running_status(assigned=3, broker_down=True), STALL_S, 1_000_000)
    assert down.to_wire()["failing"] == ["kafka"]
    refused = assess(Phase.RUNNING, running_status(auth_failing=True), STALL_S, 1_000_000)
    assert refused.to_wire()["failing"] == ["spotify_auth"]
    assert "401/403" in refused.to_wire()["checks"]["spotify_auth"]["detail"]


def test_a_refused_connection_among_several_is_named() -> None:
    status = running_status(auth_failing=True, failing_connections=("eu", "globex"))
    wire = assess(Phase.RUNNING, status, STALL_S, 1_000_000).to_wire()
    assert wire["failing"] == ["spotify_auth"]
    assert wire["checks"]["spotify_auth"]["detail"] == (
        "Spotify refuses the token or connection id (401/403) of connection eu, globex"
    )


def test_fields_spotify_refuses_are_listed_with_since_when_and_never_make_it_unready() -> None:
    stripped = (
        StrippedField("default", "user_data.clickID", 1_790_000_000_000),
        StrippedField("globex", "user_data.gender", 1_790_000_060_500),
    )
    wire = assess(
        Phase.RUNNING, running_status(stripped_fields=stripped), STALL_S, 1_000_000
    ).to_wire()
    assert wire["ready"] is True
    assert wire["checks"]["refused_fields"] == {
        "ok": True,
        "detail": "user_data.clickID stripped on default since 2026-09-21T14:13:20Z; "
        "user_data.gender stripped on globex since 2026-09-21T14:14:20Z",
    }


def test_stalled_only_when_work_is_pending_past_the_timeout() -> None:
    clock = FakeClock(1_000_000)
    state = HealthState(STALL_S, clock)
    status = running_status(unsettled=5, assigned=1)
    state.running(status)
    clock.now_ms += int(STALL_S * 1000)
    assert state.readiness().ready  # exactly at the limit: not yet
    clock.now_ms += 1
    late = state.readiness().to_wire()
    assert late["failing"] == ["progress"]
    assert late["checks"]["progress"]["detail"] == "no record settled for 60 s with 5 pending"
    status.unsettled = 0  # nothing pending: an idle connector is not stalled
    assert state.readiness().ready
    status.unsettled = 5
    status.last_progress_ms = clock.now_ms  # a record settled: ready again
    assert state.readiness().ready


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_server_on_a_free_port_serves_the_probes_and_metrics() -> None:
    clock = FakeClock()
    state = HealthState(STALL_S, clock)
    settings = TelemetrySettings(health_host="127.0.0.1", health_port=0)
    with HealthServer(settings, state, lambda: b"up 1\n") as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        status, _, body = _get(f"{server.url}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "alive", "phase": "starting"})
        status, kind, body = _get(f"{server.url}/readyz")
        assert (status, kind) == (503, "application/json")
        assert json.loads(body)["failing"] == ["pipeline"]
        state.running(running_status(assigned=2))
        status, _, body = _get(f"{server.url}/readyz")
        assert status == 200
        assert json.loads(body)["checks"]["assignment"]["detail"] == "2 partitions assigned"
        status, kind, body = _get(f"{server.url}/metrics")
        assert (status, kind, body) == (200, "text/plain; version=0.0.4; charset=utf-8", b"up 1\n")
        state.stopping()
        assert _get(f"{server.url}/readyz")[0] == 503


def test_startup_is_over_once_the_pipeline_runs_or_stops() -> None:
    assert [started(phase) for phase in Phase] == [False, True, True]


def test_startupz_fails_while_starting_where_healthz_passes() -> None:
    """A start that hangs (topic check, consumer creation) keeps /healthz at 200: only the
    startup probe's 503 gets such a pod restarted."""
    state = HealthState(STALL_S, FakeClock())
    settings = TelemetrySettings(health_host="127.0.0.1", health_port=0)
    with HealthServer(settings, state) as server:
        status, kind, body = _get(f"{server.url}/startupz")
        assert (status, kind, json.loads(body)) == (
            503,
            "application/json",
            {"status": "starting", "phase": "starting"},
        )
        assert _get(f"{server.url}/healthz")[0] == 200
        state.running(running_status(assigned=0))
        status, _, body = _get(f"{server.url}/startupz")
        assert (status, json.loads(body)) == (200, {"status": "started", "phase": "running"})
        state.stopping()
        status, _, body = _get(f"{server.url}/startupz")
        assert (status, json.loads(body)) == (200, {"status": "started", "phase": "stopping"})


def test_a_busy_port_is_a_one_line_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = TelemetrySettings(health_host="127.0.0.1", health_port=port)
        server = HealthServer(settings, HealthState(STALL_S))
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            server.start()
        server.stop()  # harmless after a failed start
