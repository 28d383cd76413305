"""Run the real pipeline in a background thread, as `run` does, and wait for its results."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from capi_devtools.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN
from connector.assemble import build_pipeline
from connector.config import (
    KafkaSettings,
    PipelineSettings,
    Settings,
    SinkSettings,
    SpotifySettings,
)
from connector.models import DeliveryResult
from connector.process.service import Service


def connector_settings(
    bootstrap: str,
    input_topic: str,
    spotify_url: str,
    *,
    group_id: str | None = None,
    token: str = DEFAULT_TOKEN,
    sink: SinkSettings | None = None,
    pipeline: PipelineSettings | None = None,
) -> Settings:
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap,
            input_topic=input_topic,
            group_id=group_id or f"connector-{uuid.uuid4().hex[:8]}",
            results_topic=f"{input_topic}-results",
            dlq_topic=f"{input_topic}-dlq",
        ),
        spotify=SpotifySettings(
            url=spotify_url, token=SecretStr(token), connection_id=DEFAULT_CONNECTION_ID
        ),
        sink=sink or SinkSettings(backoff_initial_s=0.05, backoff_max_s=1.0),
        pipeline=pipeline or PipelineSettings(commit_interval_s=0.5, drain_timeout_s=20),
    )


class ConnectorThread(Service):
    """`with ConnectorThread(settings) as c: c.wait_for_results(n)`; stops and drains on exit."""

    def __init__(self, settings: Settings) -> None:
        self.results: list[DeliveryResult] = []
        self._lock = threading.Lock()
        self.pipeline = build_pipeline(settings, on_results=self._record)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="connector", daemon=True)

    def _record(self, results: Sequence[DeliveryResult]) -> None:
        with self._lock:
            self.results.extend(results)

    def _run(self) -> None:
        try:
            self.pipeline.run(self._stop)
        except BaseException as exc:  # surfaced by stop()
            self._error = exc

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the pipeline did not stop"
        if self._error is not None:
            raise self._error

    def wait_for_results(self, count: int, timeout_s: float = 120.0) -> list[DeliveryResult]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._error is not None:
                raise self._error
            with self._lock:
                if len(self.results) >= count:
                    return list(self.results)
            time.sleep(0.05)
        with self._lock:
            raise AssertionError(f"{len(self.results)} results after {timeout_s} s, wanted {count}")


def spotify_section(settings: Settings) -> dict[str, Any]:
    """The settings file's `spotify` section: the sandbox's default connection."""
    return {
        "url": settings.spotify.url,
        "token": DEFAULT_TOKEN,
        "connection_id": DEFAULT_CONNECTION_ID,
    }


def config_file(tmp_path: Path, settings: Settings, **sections: Any) -> Path:
    """What the commands read with `--config`: the settings' topics and group, the default
    connection, and `sections` (each a settings section, added or in place of those)."""
    k = settings.kafka
    data: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": k.bootstrap_servers,
            "input_topic": k.input_topic,
            "group_id": k.group_id,
            "results_topic": k.results_topic,
            "dlq_topic": k.dlq_topic,
        },
        "spotify": spotify_section(settings),
        **sections,
    }
    path = tmp_path / f"settings-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path
