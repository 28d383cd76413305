"""The connector as users run it: `spotify-capi-connector run` in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from connector.config import Settings


def connector_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment variables that make `run` use these settings (the short names users set)."""
    token = settings.spotify.token.get_secret_value() if settings.spotify.token else ""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "CONNECTOR_INPUT_TOPIC": settings.kafka.input_topic,
        "CONNECTOR_GROUP_ID": settings.kafka.group_id,
        "CONNECTOR_RESULTS_TOPIC": settings.kafka.results_topic,
        "CONNECTOR_DLQ_TOPIC": settings.kafka.dlq_topic,
        "SPOTIFY_CAPI_URL": settings.spotify.url,
        "SPOTIFY_CAPI_TOKEN": token,
        "SPOTIFY_CAPI_CONNECTION_ID": settings.spotify.connection_id or "",
        "CONNECTOR_TELEMETRY__HEALTH_PORT": "0",
        "CONNECTOR_TELEMETRY__LOG_FORMAT": "json",
        "CONNECTOR_PIPELINE__COMMIT_INTERVAL_S": "0.5",
        "CONNECTOR_SINK__BACKOFF_INITIAL_S": "0.05",
        "CONNECTOR_SINK__BACKOFF_MAX_S": "1",
    }
    env.update(extra)
    return env


class ConnectorProcess:
    """One `run` process; its stderr (the logs) goes to a file the test can read."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 1) -> None:
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "connector", "run", "--workers", str(workers)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no goodbye."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self._log.close()

    def terminate(self, timeout_s: float = 60.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout_s)
        self._log.close()
        return code

    def wait(self, timeout_s: float = 60.0) -> int:
        """The exit code of a process that stops by itself."""
        code = self.process.wait(timeout_s)
        self._log.close()
        return code

    def alive(self) -> bool:
        return self.process.poll() is None
