"""A Spotify token rotated while `run` delivers: the Secret's file is replaced (as the kubelet
updates a mounted Secret) and Spotify takes only the new token from then on. The same process
delivers every event, none dead-lettered, and never stops being ready."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from capi_devtools.sandbox import DEFAULT_TOKEN, SandboxSettings, SandboxThread
from tests.reliability.support import wait_until_committed
from tests.support.connector import connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import connector_topics, produce_events, read_all, read_results
from tests.support.process import ConnectorProcess, connector_env

pytestmark = pytest.mark.integration

NEW_TOKEN = "rotated-capi-token-7e2b44"


def test_a_token_rotated_in_its_file_is_taken_without_a_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    total = 3000
    topic = connector_topics(kafka_bootstrap, partitions=2)
    produce_events(kafka_bootstrap, topic, [tracking_record(i) for i in range(total)], partitions=2)
    token_file = tmp_path / "secrets" / "spotify-capi-token"
    token_file.parent.mkdir()
    token_file.write_text(DEFAULT_TOKEN + "\n", encoding="utf-8")
    with SandboxThread(SandboxSettings(keep_bodies=False)) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        env = connector_env(
            settings,
            # Paced, so that the rotation lands mid-run however fast the connector is: 20
            # requests of 20 a second, 7.5 s for all.
            CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND="20",
            CONNECTOR_SINK__BATCH_SIZE="20",
        )
        del env["SPOTIFY_CAPI_TOKEN"]
        env["SPOTIFY_CAPI_TOKEN_FILE"] = str(token_file)
        log = tmp_path / "run.log"
        process = ConnectorProcess(env, log)
        try:
            deadline = time.monotonic() + 120  # a guard against a hang, not a pace
            while sandbox.state.stats().unique_event_ids < total // 4:
                assert process.alive(), log.read_text()[-2000:]
                assert time.monotonic() < deadline, "no progress before the rotation"
                time.sleep(0.05)
            staged = token_file.with_name("staged")
            staged.write_text(NEW_TOKEN + "\n", encoding="utf-8")
            os.replace(staged, token_file)
            sandbox.configure(tokens=[NEW_TOKEN])
            rotated_at = sandbox.state.stats().unique_event_ids
            wait_until_committed(
                kafka_bootstrap, settings.kafka.group_id, topic, 2, 120, check=_alive(process, log)
            )
        finally:
            assert process.terminate() == 0, log.read_text()[-2000:]
        accepted = sandbox.state.accepted_ids()

    assert rotated_at < total  # the rotation landed mid-run
    assert set(accepted) == {f"order-{i:07d}" for i in range(total)}
    results = read_results(kafka_bootstrap, f"{topic}-results", total)
    assert Counter(r["status"] for r in results) == {"DELIVERED": total}
    assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=2) == []
    text = log.read_text()
    assert "a new token of connection default was read from its file" in text
    assert "Spotify refused the token" not in text  # never held, never not ready
    assert NEW_TOKEN not in text
    assert DEFAULT_TOKEN not in text


def _alive(process: ConnectorProcess, log: Path) -> Callable[[], None]:
    def check() -> None:
        assert process.alive(), log.read_text()[-2000:]

    return check
