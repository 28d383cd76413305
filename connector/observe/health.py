"""Probes and metrics over HTTP: `/healthz`, `/readyz`, `/startupz`, `/metrics`.

The server runs on its own event loop thread, not on the pipeline's HTTP loop: it is up before
the pipeline starts (and while it drains), and neither a Kafka thread blocked in a rebalance
callback nor a sink loop busy with thousands of events can delay a probe into a restart.

Liveness says the process answers and the Kafka thread still turns its loop: once its heartbeat
is older than `liveness_timeout_s` (a poll or a callback that never returns) `/healthz` fails and
the pod is restarted. Downstream trouble (Spotify down, the token refused, brokers unreachable)
never fails liveness: a restart would not cure it. Readiness says the connector can do its job:
running, Kafka reachable, Spotify accepting the token, and not stalled (no record settled for
`stall_timeout_s` while records are pending). Startup says the pipeline got to run: liveness
passes while starting (nothing beats yet), so a start that hangs is the startup probe's to catch.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from connector.config import TelemetrySettings
from connector.errors import ConfigError
from connector.process.loop_thread import LoopThread
from connector.process.net import listen
from connector.process.service import Service

if TYPE_CHECKING:
    from connector.ports import PipelineStatus
    from connector.sink import StrippedField

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Phase(enum.StrEnum):
    STARTING = "starting"  # settings read; the pipeline is not consuming yet
    RUNNING = "running"
    STOPPING = "stopping"  # a stop was requested: draining, then exit


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Liveness:
    alive: bool
    heartbeat_age_s: float | None  # None before the pipeline runs

    def to_wire(self, phase: Phase) -> dict[str, Any]:
        wire: dict[str, Any] = {"status": "alive" if self.alive else "hung", "phase": phase.value}
        if self.heartbeat_age_s is not None:
            wire["heartbeat_age_s"] = round(self.heartbeat_age_s, 1)
        return wire


def beating(
    phase: Phase, status: PipelineStatus | None, liveness_timeout_s: float, now_ms: int
) -> Liveness:
    """Liveness from the Kafka thread's heartbeat. Pure: the clock is an argument.

    Only a running pipeline can hang: before it starts nothing beats, and a stop is bounded by
    the drain timeout (and the pod's termination grace period).
    """
    if status is None:
        return Liveness(alive=True, heartbeat_age_s=None)
    age_s = max(0, now_ms - status.heartbeat_ms) / 1000
    return Liveness(
        alive=phase is not Phase.RUNNING or age_s <= liveness_timeout_s, heartbeat_age_s=age_s
    )


def started(phase: Phase) -> bool:
    """Startup is over once the pipeline runs; a stop requested during the start ends it too
    (the drain is bounded by the termination grace period, not by the startup probe)."""
    return phase is not Phase.STARTING


def startup_wire(phase: Phase) -> dict[str, Any]:
    return {"status": "started" if started(phase) else "starting", "phase": phase.value}


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_wire(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "failing": [c.name for c in self.checks if not c.ok],
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


def assess(
    phase: Phase, status: PipelineStatus | None, stall_timeout_s: float, now_ms: int
) -> Readiness:
    """Readiness from what the pipeline last wrote. Pure: the clock is an argument."""
    if phase is not Phase.RUNNING or status is None:
        return Readiness((Check("pipeline", False, phase.value),))
    assigned = status.assigned
    idle_ms = max(0, now_ms - status.last_progress_ms)
    stalled = status.unsettled > 0 and idle_ms > stall_timeout_s * 1000
    return Readiness(
        (
            Check("pipeline", True, "running"),
            Check(
                "assignment",
                True,  # a replica beyond the partition count waits, and that is healthy
                f"{assigned} partitions assigned" if assigned else "waiting for assignment",
            ),
            Check(
                "kafka",
                not status.broker_down,
                "all brokers down" if status.broker_down else "reachable",
            ),
            Check(
                "spotify_auth",
                not status.auth_failing,
                "Spotify refuses the token or connection id (401/403)"
                + _of_connections(status.failing_connections)
                if status.auth_failing
                else "token accepted",
            ),
            Check("refused_fields", True, _stripped(status.stripped_fields)),
            Check(
                "progress",
                not stalled,
                f"no record settled for {idle_ms / 1000:.0f} s with {status.unsettled} pending"
                if stalled
                else f"{status.unsettled} pending, last progress {idle_ms / 1000:.1f} s ago",
            ),
        )
    )


def _stripped(fields: tuple[StrippedField, ...]) -> str:
    """What Spotify refuses and the connector leaves out (never a reason to be unready)."""
    if not fields:
        return "none stripped"
    return "; ".join(
        f"{f.path} stripped on {f.connection} since {_iso(f.since_ms)}" for f in fields
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _of_connections(names: tuple[str, ...]) -> str:
    return f" of connection {', '.join(names)}" if names else ""


class HealthState:
    """What the probes read: the phase and the running pipeline's status."""

    def __init__(
        self,
        stall_timeout_s: float,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        *,
        liveness_timeout_s: float = TelemetrySettings().liveness_timeout_s,
    ) -> None:
        self.stall_timeout_s = stall_timeout_s
        self.liveness_timeout_s = liveness_timeout_s
        self._clock_ms = clock_ms
        self.phase = Phase.STARTING
        self.status: PipelineStatus | None = None

    def running(self, status: PipelineStatus) -> None:
        self.status = status
        self.phase = Phase.RUNNING

    def stopping(self) -> None:
        self.phase = Phase.STOPPING

    def readiness(self) -> Readiness:
        return assess(self.phase, self.status, self.stall_timeout_s, self._clock_ms())

    def liveness(self) -> Liveness:
        return beating(self.phase, self.status, self.liveness_timeout_s, self._clock_ms())


class HealthServer(Service):
    """`with HealthServer(settings, state, scrape) as server: server.port` (0 binds a free port)."""

    def __init__(
        self,
        settings: TelemetrySettings,
        state: HealthState,
        scrape: Callable[[], bytes] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._host = settings.health_host
        self.port = settings.health_port
        self._state = state
        self._scrape = scrape
        self._loop = LoopThread(name="health", on_failure=on_failure)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> None:
        self._loop.__enter__()
        try:
            self.port = self._loop.run(self._start(), timeout_s=10)
        except OSError as exc:
            self._loop.close()
            raise ConfigError(
                f"telemetry.health_port: cannot listen on {self._host}:{self.port}: {exc.strerror}"
            ) from None
        except BaseException:
            self._loop.close()
            raise
        log.info("health server listening", extra={"host": self._host, "port": self.port})

    def stop(self) -> None:
        if self._runner is not None:
            self._loop.run(self._runner.cleanup(), timeout_s=10)
            self._runner = None
        self._loop.close()

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/startupz", self._startupz)
        app.router.add_get("/metrics", self._metrics)
        sock = listen(self._host, self.port)  # first: a busy port fails before anything runs
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        await web.SockSite(runner, sock).start()
        return int(sock.getsockname()[1])

    async def _healthz(self, _request: web.Request) -> web.Response:
        liveness = self._state.liveness()
        return _json(200 if liveness.alive else 503, liveness.to_wire(self._state.phase))

    async def _readyz(self, _request: web.Request) -> web.Response:
        readiness = self._state.readiness()
        return _json(200 if readiness.ready else 503, readiness.to_wire())

    async def _startupz(self, _request: web.Request) -> web.Response:
        phase = self._state.phase
        return _json(200 if started(phase) else 503, startup_wire(phase))

    async def _metrics(self, _request: web.Request) -> web.Response:
        if self._scrape is None:
            return web.Response(status=404, text="metrics are not enabled\n")
        return web.Response(body=self._scrape(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
