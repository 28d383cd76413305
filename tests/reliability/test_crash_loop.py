"""A crash loop: `run` killed with SIGKILL at random moments, restarted each time, under API faults.

The connector runs as users run it (a subprocess of `spotify-capi-connector run`) with a static
group membership (`group.instance.id`, as a StatefulSet pod would have): a restarted process takes
its partitions back at once instead of waiting for the dead one's session to time out.
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
        )
        kill_points: list[int] = []  # unique event ids delivered when each kill landed
        committed_at_kill: list[int] = []  # records committed then: the rest is redelivered
        for run in range(KILLS):
            process = ConnectorProcess(env, tmp_path / f"run-{run}.log")
            before = sandbox.state.stats().unique_event_ids
            # Kill once this run made some progress: somewhere up to 1/15 of the total later.
            target = min(total - 1, before + rng.randint(1, total // 15))
            deadline = time.monotonic() + 60
            while sandbox.state.stats().unique_event_ids < target and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.3))
            assert process.alive(), (tmp_path / f"run-{run}.log").read_text()[-2000:]
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
