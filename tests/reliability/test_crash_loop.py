"""A crash loop: `run` killed with SIGKILL at random moments, restarted each time, under API faults.

The connector runs as users run it (a subprocess of `spotify-capi-connector run`) with a static
group membership (`group.instance.id`, as a StatefulSet pod would have): a restarted process takes
its partitions back at once instead of waiting for the dead one's session to time out.

Each kill follows progress (unique event ids the sandbox accepted), and the connector's pace is
capped (`sink.max_requests_per_second`), so the ten kills land before the end of the run however
fast the machine and the connector are; see the bound under KILLS.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from capi_devtools.sandbox import SandboxSettings, SandboxThread
from capi_devtools.sandbox.settings import FaultSettings
from tests.reliability.support import (
    assert_accounted_for,
    collect_end_state,
    make_topics,
    scaled,
    wait_until_committed,
)
from tests.support.connector import connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import committed_and_end_offsets, produce_events
from tests.support.process import ConnectorProcess, connector_env

pytestmark = pytest.mark.reliability

PARTITIONS = 4
KILLS = 10
RATE = 20  # requests a second at most (the cap's bucket adds a burst of one request)
BATCH = 100  # events a request at most
IN_FLIGHT = 4  # requests at once at most (20 a second answered in ~10 ms: rarely more than 1)
HANG_S = 120.0  # a run reaching its kill point takes seconds; this only guards against a hang
# Worst case of where the last kill lands, for any connector speed up to the cap. A run is
# killed once the sandbox holds `target` ids, at most total/20 more than when the run started.
# Past the last poll that saw fewer, the sandbox can still take the requests then in flight
# (IN_FLIGHT) and those sent until the kill, 1 + RATE x (20 ms poll + up to 300 ms random sleep
# + polling and killing, 0.5 s in all) = 11: (4 + 11) x BATCH = 1,500 ids overshoot a kill.
# Ten kills: at most 10 x (2,500 + 1,500) = 40,000 < 50,000 ids (soak: 115,000 < 200,000). The
# 10,000 to spare are 5 s at the cap: the test thread may lose that much on a busy machine.


def test_ten_kills_under_api_faults_deliver_every_event(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    total = scaled(ci=50_000, soak=200_000)
    topic = make_topics(kafka_bootstrap, PARTITIONS)
    produce_events(
        kafka_bootstrap, topic, (tracking_record(i) for i in range(total)), partitions=PARTITIONS
    )
    faults = FaultSettings(
        seed=9, share_429=0.05, share_503=0.05, retry_after_s=1,
        latency_ms=5, latency_jitter_ms=5, latency_distribution="uniform",
    )  # fmt: skip
    rng = random.Random(2026)
    with SandboxThread(SandboxSettings(keep_bodies=False, faults=faults)) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        env = connector_env(
            settings,
            CONNECTOR_KAFKA__CLIENT_PROPERTIES=json.dumps({"group.instance.id": "crash-loop-0"}),
            CONNECTOR_SINK__MAX_ATTEMPTS="30",
            CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND=str(RATE),
            CONNECTOR_SINK__BATCH_SIZE=str(BATCH),
            CONNECTOR_SINK__MAX_IN_FLIGHT=str(IN_FLIGHT),
        )
        kill_points: list[int] = []  # unique event ids delivered when each kill landed
        committed_at_kill: list[int] = []  # records committed then: the rest is redelivered
        for run in range(KILLS):
            # Kill once this run made some progress: somewhere up to 1/20 of the total later
            # (counted before it starts, so that all its deliveries count towards it).
            before = sandbox.state.stats().unique_event_ids
            target = min(total - 1, before + rng.randint(1, total // 20))
            log = tmp_path / f"run-{run}.log"
            process = ConnectorProcess(env, log)
            _wait_for_delivered(sandbox, process, target, log)
            time.sleep(rng.uniform(0, 0.3))
            assert process.alive(), log.read_text()[-2000:]
            process.kill()
            kill_points.append(sandbox.state.stats().unique_event_ids)
            committed, _ends = committed_and_end_offsets(
                kafka_bootstrap, settings.kafka.group_id, topic, PARTITIONS
            )
            committed_at_kill.append(sum(max(0, offset) for offset in committed))
        assert kill_points[-1] < total, "the last kill must land before the end of the run"
        final = ConnectorProcess(env, tmp_path / "run-final.log")
        try:
            wait_until_committed(
                kafka_bootstrap, settings.kafka.group_id, topic, PARTITIONS, timeout_s=300
            )
        finally:
            assert final.terminate() == 0
        state = collect_end_state("crash loop", kafka_bootstrap, topic, sandbox, produced=total)
        stats = sandbox.state.stats()
    state.notes["kills at delivered"] = kill_points
    state.notes["committed at kills"] = committed_at_kill
    state.notes["requests 429/503"] = stats.requests_by_status.get(
        "429", 0
    ) + stats.requests_by_status.get("503", 0)
    print(state.report())
    assert_accounted_for(state, {f"order-{i:07d}" for i in range(total)})
    assert state.statuses() == {"DELIVERED": total}
    assert len(set(kill_points)) > 1  # the kills landed at different moments of the run
    # The cap the kill bound rests on was in force (loosely: a busy sandbox thread can bunch
    # arrivals into one second; without a cap the connector sends hundreds a second).
    assert stats.busiest_second <= 2 * RATE


def _wait_for_delivered(
    sandbox: SandboxThread, process: ConnectorProcess, target: int, log: Path
) -> None:
    """Until the sandbox accepted `target` unique event ids; fails if the run dies or hangs."""
    deadline = time.monotonic() + HANG_S
    while (delivered := sandbox.state.stats().unique_event_ids) < target:
        if not process.alive() or time.monotonic() > deadline:
            if process.alive():
                process.kill()
            raise AssertionError(
                f"{delivered} event ids delivered, waiting for {target}; the run's log ends:\n"
                + log.read_text()[-2000:]
            )
        time.sleep(0.02)
