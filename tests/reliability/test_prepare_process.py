"""A prepare process (`pipeline.prepare_processes`) killed mid-run: the connector stops with
a clear message and exit 1, and a restart delivers every event (nothing was committed past it)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from capi_devtools.sandbox import SandboxSettings, SandboxThread
from capi_devtools.sandbox.settings import FaultSettings
from tests.reliability.support import (
    assert_accounted_for,
    collect_end_state,
    make_topics,
    wait_until_committed,
)
from tests.support.connector import connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import produce_events
from tests.support.process import ConnectorProcess, connector_env

pytestmark = pytest.mark.reliability

PARTITIONS = 3


def _prepare_workers(pid: int) -> list[int]:
    """The connector's children that run prepare work (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
    workers = []
    for child in children:
        command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in command:
            workers.append(int(child))
    return workers


def test_a_killed_prepare_worker_stops_the_connector_and_a_restart_delivers_everything(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    total = 6_000
    topic = make_topics(kafka_bootstrap, PARTITIONS)
    produce_events(
        kafka_bootstrap, topic, (tracking_record(i) for i in range(total)), partitions=PARTITIONS
    )
    faults = FaultSettings(latency_ms=40)
    with SandboxThread(SandboxSettings(keep_bodies=False, faults=faults)) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        # The first run stops with events left to deliver however fast the connector is: its
        # sink, which holds most of them prepared, sends until the run has closed its consumer
        # and producer, at most 2 requests in flight + 1 + 5 a second of 100 events. The 5,500
        # past the kill point would take it 10 s or more of closing.
        env = connector_env(
            settings,
            CONNECTOR_PIPELINE__PREPARE_PROCESSES="1",
            CONNECTOR_SINK__MAX_IN_FLIGHT="2",
            CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND="5",
            CONNECTOR_SINK__BATCH_SIZE="100",
        )
        first_log = tmp_path / "first.log"
        first = ConnectorProcess(env, first_log)
        deadline = time.monotonic() + 60
        while sandbox.state.stats().unique_event_ids < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = _prepare_workers(first.process.pid)
        assert len(workers) == 1, first_log.read_text()[-2000:]
        killed = time.monotonic()
        os.kill(workers[0], signal.SIGKILL)
        code = first.wait(60)
        stopping_s = time.monotonic() - killed
        delivered_before_restart = sandbox.state.stats().unique_event_ids
        log = first_log.read_text()
        assert code == 1, log[-2000:]
        assert "a prepare process died" in log
        assert delivered_before_restart < total, f"the first run took {stopping_s:.1f} s to stop"

        final = ConnectorProcess(env, tmp_path / "final.log")
        try:
            wait_until_committed(
                kafka_bootstrap, settings.kafka.group_id, topic, PARTITIONS, timeout_s=180
            )
        finally:
            assert final.terminate() == 0
        state = collect_end_state(
            "prepare process killed", kafka_bootstrap, topic, sandbox, produced=total
        )
    print(state.report())
    assert_accounted_for(state, {f"order-{i:07d}" for i in range(total)})
    assert state.statuses() == {"DELIVERED": total}
    assert "Traceback" not in log  # a clear message, not a stack dump
