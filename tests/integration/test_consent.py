"""The consent rule on the real broker: a dropped event gets a SKIPPED_NO_CONSENT result, is not
dead-lettered, its offset is committed, and `report` counts it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from capi_devtools.sandbox import SandboxThread
from connector.cli import main
from connector.config import ConsentSettings, TransformSettings
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import (
    committed_and_end_offsets,
    connector_topics,
    produce_events,
    read_all,
    read_results,
)

pytestmark = pytest.mark.integration

DENIED = {2, 5, 8}
MISSING = {3, 9}


def test_dropped_events_are_skipped_committed_not_dead_lettered_and_reported(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = connector_topics(kafka_bootstrap)
    records = []
    for i in range(12):
        consent: dict[str, Any] = {} if i in MISSING else {"marketing_consent": i not in DENIED}
        records.append(tracking_record(i, **consent))
    produce_events(kafka_bootstrap, topic, records)
    with SandboxThread() as sandbox:
        base = connector_settings(kafka_bootstrap, topic, sandbox.url)
        rule = ConsentSettings(property="marketing_consent")
        settings = base.model_copy(update={"transform": TransformSettings(consent=rule)})
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(12)
        accepted = sandbox.state.accepted_ids()
    skipped = DENIED | MISSING
    assert set(accepted) == {f"order-{i:07d}" for i in range(12) if i not in skipped}
    results = {r["source_offset"]: r for r in read_results(kafka_bootstrap, f"{topic}-results", 12)}
    assert {o: r["status"] for o, r in results.items() if o in skipped} == dict.fromkeys(
        skipped, "SKIPPED_NO_CONSENT"
    )
    assert {o: r["error_code"] for o, r in results.items() if o in skipped} == {
        **dict.fromkeys(DENIED, "consent_denied"),
        **dict.fromkeys(MISSING, "consent_missing"),
    }
    assert results[5]["event_id"] == "order-0000005"
    assert results[5]["event_name"] == "PURCHASE"
    assert results[5]["error_field"] == "marketing_consent"
    assert all(results[i]["status"] == "DELIVERED" for i in range(12) if i not in skipped)
    assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=5) == []
    committed, ends = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 1)
    assert committed == ends == [12]

    config = tmp_path / "connector.yaml"
    kafka = {"bootstrap_servers": kafka_bootstrap, "results_topic": f"{topic}-results"}
    config.write_text(yaml.safe_dump({"kafka": kafka}), encoding="utf-8")
    capsys.readouterr()
    assert main(["report", "--config", str(config), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["by_status"] == {"DELIVERED": 7, "SKIPPED_NO_CONSENT": 5}
    assert report["by_event_name"] == {"PURCHASE": {"DELIVERED": 7, "SKIPPED_NO_CONSENT": 5}}
    assert report["by_error_code"] == {"consent_denied": 3, "consent_missing": 2}
    assert (report["unsettled_problems"], report["oldest_unsettled_problem"]) == (0, None)
