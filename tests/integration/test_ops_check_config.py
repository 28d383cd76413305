"""`check-config` against the real broker: what `run` would do, or one line on the first problem."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.cli import main
from connector.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN
from tests.support.kafka import create_topics

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, bootstrap: str, topic: str, **sections: dict[str, Any]) -> Path:
    data: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "input_topic": topic,
            "group_id": "shop-capi",
            "results_topic": f"{topic}-results",
            "dlq_topic": f"{topic}-dlq",
        },
        "spotify": {
            "url": "https://capi.example.test/capi-direct/events/",
            "token": DEFAULT_TOKEN,
            "connection_id": DEFAULT_CONNECTION_ID,
        },
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _check(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["check-config", "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_good_config_prints_what_run_would_do_without_secrets(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"check-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, partitions=3)
    create_topics(kafka_bootstrap, f"{topic}-results", f"{topic}-dlq", partitions=1)
    config = _config(tmp_path, kafka_bootstrap, topic)
    code, out, err = _check(capsys, config)
    assert (code, err) == (0, "")
    lines = {line[:14].strip(): line[14:] for line in out.splitlines()}
    assert lines["settings"] == f"valid ({config})"
    assert lines["kafka"] == f"{kafka_bootstrap} reachable (PLAINTEXT)"
    assert lines["input"] == (
        f"{topic} (3 partitions), group shop-capi, from earliest when the group has no offsets"
    )
    assert lines["results"] == f"{topic}-results (1 partitions)"
    assert lines["dead letters"] == f"{topic}-dlq (1 partitions)"
    assert lines["spotify"].startswith("POST https://capi.example.test/capi-direct/events/")
    assert DEFAULT_TOKEN not in out
    assert DEFAULT_CONNECTION_ID not in out
    assert lines["health"].startswith("http://0.0.0.0:8080 /healthz /readyz /metrics")


def test_problems_give_one_line_and_a_non_zero_exit(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"check-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, f"{topic}-results", partitions=1)  # no DLQ topic
    config = _config(tmp_path, kafka_bootstrap, topic)
    code, out, err = _check(capsys, config)
    assert (code, out) == (3, f"settings      valid ({config})\n")  # what passed, then the problem
    assert err == (
        f"spotify-capi-connector check-config: topics missing on {kafka_bootstrap}: {topic}-dlq\n"
    )
    code, _, err = _check(capsys, _config(tmp_path, kafka_bootstrap, topic, sink={"batch_size": 0}))
    assert code == 2
    assert err.count("\n") == 1
    assert "sink.batch_size" in err
    no_token = _config(tmp_path, kafka_bootstrap, topic, spotify={"token": ""})
    code, _, err = _check(capsys, no_token)
    assert (code, err.count("\n")) == (2, 1)
    assert "spotify.token is not set" in err


def test_an_unreachable_schema_registry_is_reported(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"check-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, f"{topic}-results", f"{topic}-dlq", partitions=1)
    registry = {"format": "confluent", "schema_registry_url": "http://127.0.0.1:9"}
    code, out, err = _check(capsys, _config(tmp_path, kafka_bootstrap, topic, decode=registry))
    assert code == 3
    assert "input" in out  # Kafka was checked first
    assert err == (
        "spotify-capi-connector check-config: cannot reach the Schema Registry at "
        "http://127.0.0.1:9: ConnectError\n"
    )
