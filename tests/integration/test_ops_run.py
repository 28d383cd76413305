"""The real `run` command in a child process: health port 0, metrics, SIGTERM, one-line logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from capi_devtools.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN, SandboxThread
from tests.support.events import tracking_record
from tests.support.kafka import create_topics, produce_events

pytestmark = pytest.mark.integration


def _wait_for_port(process: subprocess.Popen[str], lines: list[str]) -> int:
    """Read JSON log lines until the health server says where it listens."""
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("msg") == "health server listening":
            return int(entry["port"])
    raise AssertionError(f"no health server line in: {lines}")


def _delivered(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("spotify_capi_events_delivered_total{")
    )


def test_run_serves_metrics_and_stops_cleanly_on_sigterm(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"run-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, f"{topic}-results", f"{topic}-dlq", partitions=1)
    produce_events(kafka_bootstrap, topic, (tracking_record(i) for i in range(10)))
    with SandboxThread() as sandbox:
        config = tmp_path / "connector.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "kafka": {
                        "bootstrap_servers": kafka_bootstrap,
                        "input_topic": topic,
                        "group_id": f"g-{topic}",
                        "results_topic": f"{topic}-results",
                        "dlq_topic": f"{topic}-dlq",
                    },
                    "spotify": {"url": sandbox.url, "connection_id": DEFAULT_CONNECTION_ID},
                    "telemetry": {"health_host": "127.0.0.1", "health_port": 0},
                }
            ),
            encoding="utf-8",
        )
        # A trailing newline, the commonest secret mistake: stripped, the token works.
        env = {**os.environ, "SPOTIFY_CAPI_TOKEN": f"{DEFAULT_TOKEN}\n"}
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "connector", "run", "--config", str(config)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        lines: list[str] = []
        try:
            port = _wait_for_port(process, lines)
            deadline = time.monotonic() + 60
            while _delivered(port) < 10 and time.monotonic() < deadline:
                time.sleep(0.2)
            delivered = _delivered(port)
            process.send_signal(signal.SIGTERM)
            _, rest = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert (delivered, process.returncode) == (10, 0)
    records = [json.loads(line) for line in lines + rest.splitlines() if line.startswith("{")]
    messages = [record["msg"] for record in records]
    # Default settings: the native path prepares, in the Kafka thread (no prepare process).
    starting = next(record for record in records if record["msg"] == "connector starting")
    assert (starting["native_prepare"], starting["prepare_processes"]) == (True, 0)
    for expected in (
        "health server listening",
        "connector starting",
        "partitions assigned",
        "stop requested",
        "pipeline stopped",
    ):
        assert messages.count(expected) == 1, (expected, messages)
    assert DEFAULT_TOKEN not in "".join(lines) + rest
