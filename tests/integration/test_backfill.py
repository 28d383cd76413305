"""`backfill` end to end on the real broker and the sandbox, through the CLI: an exact range with
the live run's event ids, a killed backfill resumed, live traffic delivered meanwhile under the
backfill's own cap, and a dry run whose counts the real run then matches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import SecretStr

from capi_devtools.sandbox import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_TOKEN,
    SandboxSettings,
    SandboxThread,
)
from connector.cli import main
from connector.config import Settings, SinkSettings
from connector.models import DeliveryResult
from connector.schemas import avro
from tests.support.connector import (
    ConnectorThread,
    config_file,
    connector_settings,
    spotify_section,
)
from tests.support.events import tracking_record
from tests.support.kafka import create_topics, read_results

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NEW_TOKEN = "new-shop-token-not-a-secret"
NEW_CONNECTION_ID = str(uuid.UUID(int=11))
SECOND_MS = 1000


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    settings = SandboxSettings(
        tokens=(SecretStr(DEFAULT_TOKEN), SecretStr(NEW_TOKEN)),
        connection_ids=(DEFAULT_CONNECTION_ID, NEW_CONNECTION_ID),
    )
    with SandboxThread(settings) as running:
        yield running


def topics(bootstrap: str, partitions: int) -> str:
    name = f"backfill-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, name, partitions=partitions)
    create_topics(bootstrap, f"{name}-results", f"{name}-dlq")
    return name


def produce_timed(
    bootstrap: str, topic: str, values: list[bytes], first_ms: int, partitions: int
) -> None:
    """Value i at partition i % partitions, record time first_ms + i seconds."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for index, value in enumerate(values):
        producer.produce(
            topic,
            value=value,
            key=str(index).encode(),
            partition=index % partitions,
            timestamp=first_ms + index * SECOND_MS,
        )
    assert producer.flush(60) == 0


def event(index: int, **overrides: Any) -> bytes:
    """A purchase whose event id is derived from its coordinates (none of its own)."""
    record = tracking_record(index, **{"$event_id": None, "$event_time": None, **overrides})
    return bytes(avro.encode(avro.bundled_schema(avro.TRACKING_EVENT), record))


def live_settings(bootstrap: str, topic: str, url: str, **sink: Any) -> Settings:
    return connector_settings(
        bootstrap, topic, url, sink=SinkSettings(backoff_initial_s=0.05, backoff_max_s=1, **sink)
    )


def backfill_config(tmp_path: Path, settings: Settings, **extra: Any) -> Path:
    """The live settings as a file, with the new connection a backfill may target; the default
    connection answers the routing, new_shop only what a backfill sends it."""
    new_shop = {"token": NEW_TOKEN, "connection_id": NEW_CONNECTION_ID}
    return config_file(
        tmp_path,
        settings,
        spotify={**spotify_section(settings), "connections": {"new_shop": new_shop}},
        sink=settings.sink.model_dump(),
        pipeline={"commit_interval_s": 0.5, "drain_timeout_s": 20},
        telemetry={"log_level": "WARNING"},
        routing={"default": "default"},
        **extra,
    )


def backfill(
    capsys: pytest.CaptureFixture[str], config: Path, *argv: str
) -> tuple[int, dict[str, Any], str]:
    """Run the command in this process: (exit code, its JSON summary, what it said on stderr)."""
    capsys.readouterr()
    code = main(["backfill", "--config", str(config), "--format", "json", *argv])
    said = capsys.readouterr()
    return code, json.loads(said.out) if said.out.strip() else {}, said.err


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def live_ids(results: list[DeliveryResult]) -> dict[tuple[int, int], str | None]:
    return {(r.coordinates.partition, r.coordinates.offset): r.event_id for r in results}


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.1)


def test_a_range_in_the_middle_is_sent_exactly_with_the_live_run_s_event_ids(
    kafka_bootstrap: str,
    sandbox: SandboxThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = topics(kafka_bootstrap, partitions=2)
    first_ms = time.time_ns() // 1_000_000 - 3_600_000
    produce_timed(kafka_bootstrap, topic, [event(i) for i in range(40)], first_ms, 2)
    settings = live_settings(kafka_bootstrap, topic, sandbox.url)
    with ConnectorThread(settings) as live:
        ids = live_ids(live.wait_for_results(40))
    assert len(set(ids.values())) == 40

    # Records 10 to 29: offsets 5 to 14 of each partition; 9 and 30, 31 are the neighbours.
    frm, to = iso(first_ms + 10 * SECOND_MS), iso(first_ms + 30 * SECOND_MS)
    code, summary, said = backfill(
        capsys, backfill_config(tmp_path, settings), "--from", frm, "--to", to,
        "--connection", "new_shop", "--id", "middle",
    )  # fmt: skip

    assert code == 0, said
    assert summary["state"] == "complete"
    assert (summary["records"], summary["settled"]) == (20, 20)
    assert summary["by_status"] == {"DELIVERED": 20}
    assert summary["by_connection"] == {"new_shop": {"DELIVERED": 20}}
    in_range = {ids[(i % 2, i // 2)] for i in range(10, 30)}
    assert set(sandbox.state.accepted_ids(NEW_CONNECTION_ID)) == in_range
    assert sandbox.state.accepted_ids(NEW_CONNECTION_ID) == dict.fromkeys(in_range, 1)
    results = read_results(kafka_bootstrap, f"{topic}-results", 60)
    backfilled = [r for r in results if r["backfill"] is not None]
    assert len(results) == 60
    assert {r["backfill"] for r in backfilled} == {"middle"}
    assert sorted((r["source_partition"], r["source_offset"]) for r in backfilled) == sorted(
        (p, o) for p in (0, 1) for o in range(5, 15)
    )
    assert all(
        r["event_id"] == ids[(r["source_partition"], r["source_offset"])] for r in backfilled
    )
    assert {r["connection"] for r in backfilled} == {"new_shop"}
    assert [r["backfill"] for r in results[:40] if r["backfill"] is not None] == []

    # The same id again: the range is done, nothing is sent twice.
    code, again, _ = backfill(
        capsys, backfill_config(tmp_path, settings), "--from", frm, "--to", to,
        "--connection", "new_shop", "--id", "middle",
    )  # fmt: skip
    assert (code, again["records"], again["by_status"]) == (0, 0, {})
    assert sum(sandbox.state.accepted_ids(NEW_CONNECTION_ID).values()) == 20


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        asked = [TopicPartition(topic, p) for p in range(partitions)]
        return [tp.offset for tp in consumer.committed(asked, timeout=20)]
    finally:
        consumer.close()


def test_a_killed_backfill_resumed_with_its_id_delivers_the_rest_and_loses_nothing(
    kafka_bootstrap: str,
    sandbox: SandboxThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = topics(kafka_bootstrap, partitions=2)
    first_ms = time.time_ns() // 1_000_000 - 3_600_000
    total = 400
    produce_timed(kafka_bootstrap, topic, [event(i) for i in range(total)], first_ms, 2)
    settings = live_settings(kafka_bootstrap, topic, sandbox.url, batch_size=5, linger_ms=20)
    config = backfill_config(tmp_path, settings)
    # 80 requests at 10 a second: the cap, not the machine, keeps the first run going 8 s.
    argv = ["backfill", "--config", str(config), "--from", iso(first_ms), "--to",
            iso(first_ms + total * SECOND_MS), "--connection", "new_shop", "--id", "resume",
            "--max-requests-per-second", "10", "--format", "json"]  # fmt: skip
    group = f"{settings.kafka.group_id}-backfill-resume"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "connector", *argv], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # Killed once it committed beyond the range's start in a partition (progress, not time).
        wait_until(
            lambda: (
                max(_committed(kafka_bootstrap, group, topic, 2)) > 20 or process.poll() is not None
            ),
            "the backfill's first commit",
        )
        sandbox.start_outage(600, "503")  # nothing more is acknowledged while it is killed
        process.send_signal(signal.SIGKILL)
    finally:
        _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, err.decode()
    sent_first = set(sandbox.state.accepted_ids(NEW_CONNECTION_ID))
    sandbox.call(lambda server: server.end_outage())
    assert 0 < len(sent_first) < total

    code, summary, said = backfill(capsys, config, *argv[3:-2])

    assert code == 0, said
    assert summary["state"] == "complete"
    assert 0 < summary["records"] < total  # it went on from the commits, not from the start
    assert summary["by_status"] == {"DELIVERED": summary["records"]}
    accepted = sandbox.state.accepted_ids(NEW_CONNECTION_ID)
    assert len(accepted) == total  # every record of the range reached Spotify
    results = read_results(kafka_bootstrap, f"{topic}-results", total)
    delivered = {
        (r["source_partition"], r["source_offset"])
        for r in results
        if r["backfill"] == "resume" and r["status"] == "DELIVERED"
    }
    assert delivered == {(p, o) for p in (0, 1) for o in range(total // 2)}


def test_live_traffic_keeps_flowing_while_a_capped_backfill_runs(
    kafka_bootstrap: str,
    sandbox: SandboxThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = topics(kafka_bootstrap, partitions=1)
    first_ms = time.time_ns() // 1_000_000 - 3_600_000
    old = 300
    produce_timed(kafka_bootstrap, topic, [event(i) for i in range(old)], first_ms, 1)
    # A live cap of 40 requests a second: the backfill takes a quarter, 10.
    settings = live_settings(
        kafka_bootstrap, topic, sandbox.url, batch_size=5, linger_ms=20, max_requests_per_second=40
    )
    config = backfill_config(tmp_path, settings)
    stop_producing = threading.Event()
    produced = Counter[str]()

    def live_producer() -> None:
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        index = 10_000
        while not stop_producing.is_set():
            for _ in range(10):
                producer.produce(topic, value=event(index))
                index += 1
            producer.flush(30)
            produced["live"] += 10
            time.sleep(0.1)
        producer.flush(30)

    with ConnectorThread(settings) as live:
        live.wait_for_results(old)
        feeder = threading.Thread(target=live_producer, daemon=True)
        feeder.start()
        started_ms = time.time_ns() // 1_000_000
        code, summary, said = backfill(
            capsys, config, "--from", iso(first_ms), "--to", iso(first_ms + old * SECOND_MS),
            "--connection", "new_shop", "--id", "beside-live",
        )  # fmt: skip
        ended_ms = time.time_ns() // 1_000_000
        stop_producing.set()
        feeder.join(60)
        live.wait_for_results(old + produced["live"])
        during = [
            r
            for r in live.results[old:]
            if started_ms <= r.settled_at_ms <= ended_ms and r.status.value == "DELIVERED"
        ]

    assert code == 0, said
    assert summary["max_requests_per_second"] == {"new_shop": 10.0}
    assert summary["by_status"] == {"DELIVERED": old}
    # Live records kept being delivered while the backfill ran (it lasted ≥ 5.9 s: 60 requests).
    assert ended_ms - started_ms >= 5_900
    assert len(during) >= 10
    assert len(live.results) == old + produced["live"]
    assert {r.status.value for r in live.results} == {"DELIVERED"}
    per_second = sandbox.state.requests_by_second(NEW_CONNECTION_ID)
    assert sum(per_second.values()) == old // 5
    assert max(per_second.values()) <= 10 + 1  # its cap (a second's edge may see one more)
    assert len(sandbox.state.accepted_ids(NEW_CONNECTION_ID)) == old


def test_the_dry_run_counts_match_what_the_real_run_then_delivers(
    kafka_bootstrap: str,
    sandbox: SandboxThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = topics(kafka_bootstrap, partitions=2)
    first_ms = time.time_ns() // 1_000_000 - 3_600_000
    values = []
    for i in range(60):
        if i % 10 == 3:
            values.append(event(i, marketing_consent=False))  # skipped for consent
        elif i % 10 == 5:
            values.append(event(i, marketing_consent=True, spotify_event_name="DANCE"))
        elif i % 10 == 7:  # older than transform.max_event_age_s: rejected
            old = {"$event_time": "2026-01-23T12:34:56.000Z"}
            values.append(event(i, marketing_consent=True, **old))
        elif i == 9:
            values.append(b"\x00\x01not avro at all")
        else:
            name = "LEAD" if i % 2 else "PURCHASE"
            values.append(event(i, marketing_consent=True, spotify_event_name=name))
    produce_timed(kafka_bootstrap, topic, values, first_ms, 2)
    settings = live_settings(kafka_bootstrap, topic, sandbox.url)
    transform = {"consent": {"property": "marketing_consent"}, "max_event_age_s": 30 * 86_400}
    config = backfill_config(tmp_path, settings, transform=transform)
    argv = ("--from", iso(first_ms + 5 * SECOND_MS), "--to", iso(first_ms + 55 * SECOND_MS),
            "--connection", "new_shop", "--id", "dry")  # fmt: skip

    code, dry, said = backfill(capsys, config, *argv, "--dry-run")
    assert code == 0, said
    assert sandbox.state.stats().requests_total == 0  # a dry run sends nothing
    assert dry["records"] == 50
    assert dry["by_partition"] == {f"{topic}[0]": 25, f"{topic}[1]": 25}
    assert dry["skipped_no_consent"] == {"consent_denied": 5}
    assert sum(dry["rejected"].values()) == 10
    assert dry["rejected"] == {"invalid_event_name": 5, "too_old": 5}
    assert sum(dry["undecodable"].values()) == 1
    assert dry["would_send"] == 34
    assert dry["would_send_by_connection"] == {"new_shop": 34}
    assert dry["would_send_by_event_name"] == {"LEAD": 9, "PURCHASE": 25}

    code, real, said = backfill(capsys, config, *argv)
    assert code == 1, said  # rejected and undecodable records failed (dead-lettered)
    assert real["by_status"] == {
        "DELIVERED": dry["would_send"],
        "SKIPPED_NO_CONSENT": sum(dry["skipped_no_consent"].values()),
        "REJECTED_TRANSFORM": sum(dry["rejected"].values()),
        "UNDECODABLE": sum(dry["undecodable"].values()),
    }
    assert real["delivered_by_event_name"] == dry["would_send_by_event_name"]
    assert len(sandbox.state.accepted_ids(NEW_CONNECTION_ID)) == dry["would_send"]
