"""The Kafka broker goes away in the middle of a run (SIGTERM, then SIGKILL) and comes back.

A broker of its own (restarting the session broker would disturb other tests): the connector
keeps its consumer and producers, librdkafka reconnects, and nothing is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from capi_devtools.localinfra.kafka import KafkaBroker
from capi_devtools.sandbox import SandboxSettings, SandboxThread
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

PARTITIONS = 3


@pytest.fixture(scope="module")
def restartable_broker() -> Iterator[KafkaBroker]:
    with KafkaBroker() as broker:
        yield broker


def _wait_delivered(
    sandbox: SandboxThread, connector: ConnectorThread, count: int, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while (delivered := sandbox.state.stats().unique_event_ids) < count:
        assert time.monotonic() < deadline, (
            f"{delivered} delivered in {timeout_s} s, wanted {count}; {connector.pipeline.status}"
        )
        connector.wait_for_results(0, timeout_s=1)  # raises if it died
        time.sleep(0.05)


def test_broker_restarts_mid_run_lose_nothing(restartable_broker: KafkaBroker) -> None:
    broker = restartable_broker
    bootstrap = broker.bootstrap
    total = scaled(ci=15_000, soak=100_000)
    chunk = 500
    topic = make_topics(bootstrap, PARTITIONS)
    records = [tracking_record(i) for i in range(total)]
    produce_exactly_once(bootstrap, topic, records[: total // 3], partitions=PARTITIONS)

    failures: list[BaseException] = []

    def produce_the_rest() -> None:  # the producer lives through the restarts too
        try:
            for start in range(total // 3, total, chunk):
                batch = records[start : start + chunk]
                produce_exactly_once(bootstrap, topic, batch, partitions=PARTITIONS)
                time.sleep(0.1)
        except BaseException as exc:
            failures.append(exc)

    away: list[float] = []
    with SandboxThread(SandboxSettings(keep_bodies=False)) as sandbox:
        settings = connector_settings(bootstrap, topic, sandbox.url)
        producer = threading.Thread(target=produce_the_rest)
        with ConnectorThread(settings) as connector:
            _wait_delivered(sandbox, connector, total // 6)
            producer.start()
            away.append(broker.restart())  # SIGTERM: a clean shutdown of the broker
            _wait_delivered(sandbox, connector, total // 2)
            away.append(broker.restart(hard=True))  # SIGKILL: the broker crashes
            producer.join()
            assert failures == []
            wait_until_committed(
                bootstrap,
                settings.kafka.group_id,
                topic,
                PARTITIONS,
                timeout_s=180,
                check=lambda: connector.wait_for_results(0, timeout_s=1),  # raises if it died
            )
        state = collect_end_state("broker restart", bootstrap, topic, sandbox, produced=total)
    state.notes["broker away s"] = [round(s, 1) for s in away]
    print(state.report())
    assert_accounted_for(state, {f"order-{i:07d}" for i in range(total)})
    assert state.statuses() == {"DELIVERED": total}
