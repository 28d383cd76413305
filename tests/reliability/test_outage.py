"""Spotify unreachable (its port closed) for a while: within the retry budget, everything is
delivered after the outage; beyond it, each event is dead-lettered as retry_exhausted (to be
replayed), and none is lost either way.

CI uses a 20 s outage; `CAPI_SOAK=1` the full 60 s. The retry budget is set from the outage:
backoff capped at a fifth of it, 40 attempts (full jitter: about 4 outages of waiting on average).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from capi_devtools.sandbox import FaultSettings, SandboxSettings, SandboxThread
from connector.config import SinkSettings
from tests.reliability.support import (
    assert_accounted_for,
    collect_end_state,
    make_topics,
    scaled,
    scaled_float,
    wait_until_committed,
)
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import produce_events

pytestmark = pytest.mark.reliability

PARTITIONS = 2


def _run_through_outage(
    bootstrap: str, total: int, outage_s: float, sink: SinkSettings, name: str
) -> tuple[Counter[str], list[str], float]:
    """Close Spotify's port for `outage_s` mid-run; (statuses, delivered ids, seconds to commit)."""
    topic = make_topics(bootstrap, PARTITIONS)
    produce_events(bootstrap, topic, (tracking_record(i) for i in range(total)), partitions=2)
    # Paced (answers in 100 ms, few requests in flight) so that most events are still to send
    # when the outage begins: a fast connector must not finish before it.
    paced = SandboxSettings(keep_bodies=False, faults=FaultSettings(latency_ms=100))
    with SandboxThread(paced) as sandbox:
        settings = connector_settings(bootstrap, topic, sandbox.url, sink=sink)
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(total // 10)
            sandbox.start_outage(outage_s, mode="refuse")
            began = time.monotonic()
            wait_until_committed(
                bootstrap,
                settings.kafka.group_id,
                topic,
                PARTITIONS,
                timeout_s=outage_s + 240,
                check=lambda: connector.wait_for_results(0, timeout_s=1),  # raises if it died
            )
            took = time.monotonic() - began
        state = collect_end_state(name, bootstrap, topic, sandbox, produced=total)
    state.notes["outage s"] = outage_s
    state.notes["outage start to all committed s"] = round(took, 1)
    print(state.report())
    delivered = set(state.accepted)
    exhausted = Counter(
        reason for reason in state.dead_letter_reasons.values() if reason == "retry_exhausted"
    )
    assert_accounted_for(state, delivered, dead_letter_reasons=exhausted)
    return state.statuses(), sorted(delivered), took


def test_an_outage_within_the_retry_budget_delays_but_delivers_everything(
    kafka_bootstrap: str,
) -> None:
    outage_s = scaled_float(ci=20.0, soak=60.0)
    total = scaled(ci=10_000, soak=50_000)
    sink = SinkSettings(
        max_attempts=40, backoff_initial_s=0.1, backoff_max_s=outage_s / 5, max_in_flight=4
    )
    statuses, delivered, took = _run_through_outage(
        kafka_bootstrap, total, outage_s, sink, "outage within budget"
    )
    assert took >= outage_s  # the outage really held the run up
    assert statuses == {"DELIVERED": total}
    assert delivered == [f"order-{i:07d}" for i in range(total)]


def test_an_outage_beyond_the_retry_budget_dead_letters_without_loss(
    kafka_bootstrap: str,
) -> None:
    total = scaled(ci=5_000, soak=20_000)
    sink = SinkSettings(max_attempts=3, backoff_initial_s=0.1, backoff_max_s=0.5, max_in_flight=2)
    statuses, delivered, _took = _run_through_outage(
        kafka_bootstrap, total, 8.0, sink, "outage beyond budget"
    )
    assert statuses["RETRY_EXHAUSTED"] > 0  # events in flight during the outage gave up
    assert statuses["DELIVERED"] == len(delivered) > 0
    assert statuses["DELIVERED"] + statuses["RETRY_EXHAUSTED"] == total
