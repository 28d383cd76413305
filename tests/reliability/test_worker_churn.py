"""Three workers of one group join and leave at random while events keep arriving, with light
API faults: cooperative rebalances hand partitions over without losing a record."""

from __future__ import annotations

import random
import threading
import time

import pytest

from capi_devtools.sandbox import SandboxSettings, SandboxThread
from capi_devtools.sandbox.settings import FaultSettings
from connector.config import PipelineSettings
from tests.reliability.support import (
    assert_accounted_for,
    collect_end_state,
    make_topics,
    produce_exactly_once,
    scaled,
    wait_until_committed,
)
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record

pytestmark = pytest.mark.reliability

PARTITIONS = 6
SLOTS = 3


@pytest.mark.parametrize("processes", [0, 1], ids=["in-thread", "prepare-process"])
def test_three_workers_joining_and_leaving_at_random_lose_nothing(
    kafka_bootstrap: str, processes: int
) -> None:
    """With `processes`, each worker decodes and transforms in a prepare process of its own: a
    revoke then also waits for the batches out in that process."""
    total = scaled(ci=20_000, soak=100_000)
    changes = scaled(ci=12, soak=40)
    chunk = 500
    rng = random.Random(31)
    topic = make_topics(kafka_bootstrap, PARTITIONS)
    records = [tracking_record(i) for i in range(total)]
    produce_exactly_once(kafka_bootstrap, topic, records[:chunk], partitions=PARTITIONS)
    failures: list[BaseException] = []

    def produce_the_rest() -> None:
        try:
            for start in range(chunk, total, chunk):
                batch = records[start : start + chunk]
                produce_exactly_once(kafka_bootstrap, topic, batch, partitions=PARTITIONS)
                time.sleep(0.2)
        except BaseException as exc:
            failures.append(exc)

    faults = FaultSettings(seed=4, share_429=0.03, share_503=0.03, retry_after_s=1, latency_ms=3)
    workers: list[ConnectorThread | None] = [None] * SLOTS
    joins = leaves = 0
    with SandboxThread(SandboxSettings(keep_bodies=False, faults=faults)) as sandbox:
        settings = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            pipeline=PipelineSettings(
                commit_interval_s=0.5, drain_timeout_s=20, prepare_processes=processes
            ),
        )
        producer = threading.Thread(target=produce_the_rest)
        producer.start()
        try:
            workers[0] = ConnectorThread(settings).__enter__()
            for _ in range(changes):
                time.sleep(rng.uniform(0.5, 2.5))
                slot = rng.randrange(SLOTS)
                worker = workers[slot]
                if worker is None:
                    workers[slot] = ConnectorThread(settings).__enter__()
                    joins += 1
                elif sum(w is not None for w in workers) > 1:
                    worker.stop()  # leaves the group: its partitions move to the others
                    workers[slot] = None
                    leaves += 1
            producer.join()
            assert failures == []
            remaining = next(w for w in workers if w is not None)
            wait_until_committed(
                kafka_bootstrap,
                settings.kafka.group_id,
                topic,
                PARTITIONS,
                timeout_s=180,
                check=lambda: remaining.wait_for_results(0, timeout_s=1),  # raises if it died
            )
        finally:
            for worker in workers:
                if worker is not None:
                    worker.stop()
        state = collect_end_state("worker churn", kafka_bootstrap, topic, sandbox, produced=total)
    state.notes["joins"] = joins
    state.notes["leaves"] = leaves
    print(state.report())
    assert joins > 0
    assert leaves > 0
    assert_accounted_for(state, {f"order-{i:07d}" for i in range(total)})
    assert state.statuses() == {"DELIVERED": total}
