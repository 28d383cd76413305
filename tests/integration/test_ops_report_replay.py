"""`report` and `replay` end to end on the real broker and the sandbox, through the CLI."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from capi_devtools.sandbox import SandboxThread
from connector.cli import main
from connector.commands.report import percentiles
from connector.config import Settings, SinkSettings
from connector.models import DeliveryResult
from tests.support.connector import ConnectorThread, config_file, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import create_topics, header_map, produce_events, read_all, read_results

pytestmark = pytest.mark.integration


def _topics(bootstrap: str) -> str:
    name = f"ops-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, name, f"{name}-results", f"{name}-dlq", partitions=1)
    return name


def _config(tmp_path: Path, settings: Settings) -> Path:
    sink = settings.sink
    return config_file(
        tmp_path,
        settings,
        sink={
            "max_attempts": sink.max_attempts,
            "backoff_initial_s": sink.backoff_initial_s,
            "backoff_max_s": sink.backoff_max_s,
        },
        pipeline={"commit_interval_s": 0.5, "drain_timeout_s": 20},
        telemetry={"log_format": "text"},
    )


def _report(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", "--config", str(config), "--format", "json", *extra]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def _replay(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["replay", "--config", str(config), *extra])
    return code, capsys.readouterr().out.strip()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def test_report_counts_failures_and_replay_delivers_them_with_the_same_event_ids(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = _topics(kafka_bootstrap)
    recent = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    records = [tracking_record(i, **{"$event_time": recent}) for i in range(30)]
    # Old events (January 2026) with no $event_id: the id is derived from their coordinates.
    records += [tracking_record(i, **{"$event_id": None}) for i in range(30, 40)]
    records += [tracking_record(i, spotify_event_name="DANCE") for i in range(40, 42)]
    produce_events(kafka_bootstrap, topic, records)
    with SandboxThread() as sandbox:
        sandbox.configure(max_event_age_s=30 * 86400)  # Spotify-like: too old is a 400
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with ConnectorThread(settings) as connector:
            first: list[DeliveryResult] = connector.wait_for_results(42)
        config = _config(tmp_path, settings)
        old_ids = {r.coordinates.offset: r.event_id for r in first if r.coordinates.offset >= 30}
        failures = [r for r in first if r.is_failure]
        oldest = min(failures, key=lambda r: r.settled_at_ms)
        latencies = [r.settled_at_ms - r.received_at_ms for r in first if not r.is_failure]

        report = _report(capsys, config)
        assert report == {
            "since": None,
            "until": None,
            "results": 42,
            "by_status": {"DELIVERED": 30, "REJECTED_SPOTIFY": 10, "REJECTED_TRANSFORM": 2},
            "by_event_name": {
                "(none)": {"REJECTED_TRANSFORM": 2},
                "PURCHASE": {"DELIVERED": 30, "REJECTED_SPOTIFY": 10},
            },
            "by_error_code": {"invalid_event_name": 2, "spotify_400": 10},
            "delivery_latency_ms": percentiles(latencies),
            "match_quality": {
                "PURCHASE": {
                    "delivered": 30,
                    "with": dict.fromkeys(("email", "phone", "ip", "device_id", "click_id"), 1.0),
                    "only_ip": 0.0,
                    "top_dropped": [],
                }
            },
            "refused_fields": [],  # the events refused were too old: no field was removed
            "backfills": {},  # no result of a backfill
            # every event carries its own $event_id: no derived id, no hint
            "event_ids": {
                "by_event_name": {"PURCHASE": {"derived": 0, "derived_share": 0.0, "event": 30}},
                "hint": None,
            },
            "unsettled_problems": 12,
            "oldest_unsettled_problem": {
                "event_id": oldest.event_id,
                "event_name": oldest.event_name,
                "status": oldest.status.value,
                "error_code": oldest.error_code,
                "http_status": oldest.http_status,
                "settled_at": _iso(oldest.settled_at_ms),
                "source": {"topic": topic, "partition": 0, "offset": oldest.coordinates.offset},
                "sp_trace_id": oldest.sp_trace_id,
            },
        }
        assert _report(capsys, config, "--since", "2099-01-01")["results"] == 0

        sandbox.configure(max_event_age_s=None)  # the fix
        code, said = _replay(capsys, config, "--reason", "spotify_400")
        accepted = sandbox.state.accepted_ids()
    assert (code, said) == (
        0,
        "replay complete: 10 of 12 dead letters selected; results: DELIVERED 10",
    )
    assert len(old_ids) == 12
    assert set(accepted) == {f"order-{i:07d}" for i in range(30)} | {
        old_ids[offset] for offset in range(30, 40)
    }
    results = read_results(kafka_bootstrap, f"{topic}-results", 52)
    replayed = results[42:]
    assert len(results) == 52
    assert {(r["source_topic"], r["source_offset"], r["event_id"]) for r in replayed} == {
        (topic, offset, old_ids[offset]) for offset in range(30, 40)
    }
    assert {r["status"] for r in replayed} == {"DELIVERED"}
    after = _report(capsys, config)
    assert after["by_status"] == {"DELIVERED": 40, "REJECTED_SPOTIFY": 10, "REJECTED_TRANSFORM": 2}
    assert after["unsettled_problems"] == 2
    assert after["oldest_unsettled_problem"]["error_code"] == "invalid_event_name"


def test_retry_exhaustion_replayed_twice_stops_at_the_start_offsets_then_delivers(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = _topics(kafka_bootstrap)
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(5)))
    ids = {f"order-{i:07d}" for i in range(5)}
    with SandboxThread() as sandbox:
        sandbox.configure(faults={"share_503": 1.0, "retry_after_s": None})
        sink = SinkSettings(max_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.05)
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url, sink=sink)
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(5)
        config = _config(tmp_path, settings)
        report = _report(capsys, config)
        assert (report["by_status"], report["by_error_code"]) == (
            {"RETRY_EXHAUSTED": 5},
            {"retry_exhausted": 5},
        )
        assert (report["unsettled_problems"], report["delivery_latency_ms"]) == (5, None)

        still_failing = _replay(capsys, config)  # not fixed yet: they fail again, once
        dead_after_first = read_all(kafka_bootstrap, f"{topic}-dlq", 10)
        sandbox.configure(faults={"share_503": 0.0})
        fixed = _replay(capsys, config, "--reason", "retry_exhausted")
        accepted = sandbox.state.accepted_ids()
    assert still_failing == (
        1,
        "replay complete: 5 of 5 dead letters selected; results: RETRY_EXHAUSTED 5",
    )
    assert len(dead_after_first) == 10
    again = [header_map(m) for m in dead_after_first[5:]]
    assert {h["capi.event_id"].decode() for h in again} == ids
    assert {(h["capi.source.topic"].decode(), h["capi.error.reason"]) for h in again} == {
        (topic, b"retry_exhausted")
    }
    assert fixed == (0, "replay complete: 10 of 10 dead letters selected; results: DELIVERED 10")
    assert accepted == dict.fromkeys(ids, 2)  # both dead letters of each event: one id, twice
    final = _report(capsys, config)
    assert final["by_status"] == {"DELIVERED": 10, "RETRY_EXHAUSTED": 10}
    assert (final["unsettled_problems"], final["oldest_unsettled_problem"]) == (0, None)


_UNSPECIFIED = "0.0.0.0"  # noqa: S104 - a placeholder under test, nothing binds to it
_NO_IDS: dict[str, str | None] = {"email": None, "phone": None, "$device_id": None, "$spclid": None}


def test_report_shows_match_quality_per_event_name_with_the_top_drops_and_hints(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = _topics(kafka_bootstrap)
    recent = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    mix: list[dict[str, str | None]] = [
        *({} for _ in range(4)),  # every identifier
        *({**_NO_IDS, "phone": "12"} for _ in range(3)),  # the phone invalid: IP only
        *({"email": "undefined", "phone": None, "$spclid": None} for _ in range(2)),
        _NO_IDS,  # IP only
        *({**_NO_IDS, "email": "a@example.com", "$ip": _UNSPECIFIED, "spotify_event_name": "LEAD"}
          for _ in range(4)),  # the IP a placeholder
    ]  # fmt: skip
    records = [
        tracking_record(i, **{"$event_time": recent}, **extra) for i, extra in enumerate(mix)
    ]
    produce_events(kafka_bootstrap, topic, records)
    with SandboxThread() as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(len(mix))
        config = _config(tmp_path, settings)
        report = _report(capsys, config)
        capsys.readouterr()
        assert main(["report", "--config", str(config)]) == 0
        table = capsys.readouterr().out
    assert report["by_status"] == {"DELIVERED": 14}
    assert report["match_quality"] == {
        "LEAD": {
            "delivered": 4,
            "with": {"email": 1.0, "phone": 0.0, "ip": 0.0, "device_id": 0.0, "click_id": 0.0},
            "only_ip": 0.0,
            "top_dropped": [
                {
                    "kind": "ip",
                    "reason": "placeholder",
                    "events": 4,
                    "share": 1.0,
                    "hint": "leave $ip out when unknown instead of a stand-in like undefined "
                    "or all zeros",
                }
            ],
        },
        "PURCHASE": {
            "delivered": 10,
            "with": {"email": 0.4, "phone": 0.4, "ip": 1.0, "device_id": 0.6, "click_id": 0.4},
            "only_ip": 0.4,
            "top_dropped": [
                {
                    "kind": "phone",
                    "reason": "invalid",
                    "events": 3,
                    "share": 0.3,
                    "hint": "send E.164 or set transform.default_phone_region",
                },
                {
                    "kind": "email",
                    "reason": "placeholder",
                    "events": 2,
                    "share": 0.2,
                    "hint": "leave email out when unknown instead of a stand-in like undefined "
                    "or all zeros",
                },
            ],
        },
    }
    assert (
        "  PURCHASE                    10      40 %      40 %     100 %      60 %      40 %"
        "      40 %" in table.splitlines()
    )
    assert (
        "  PURCHASE            phone: 30 % dropped as invalid: send E.164 or set "
        "transform.default_phone_region" in table.splitlines()
    )
