"""A real trace backend on loopback: Jaeger (v2, all in one, in memory), built from the Go module
proxy by scripts/install-jaeger.sh into .cache/bin/jaeger. It takes OTLP over HTTP and answers
Jaeger's query API (`/api/traces`), which the traces test reads back."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from capi_devtools.errors import LocalInfraError
from capi_devtools.localinfra.kafka import free_port
from capi_devtools.localinfra.processes import launch, stop_group
from connector.process.service import Service

START_TIMEOUT_S = 60.0


def _config(otlp_port: int, query_port: int, query_grpc_port: int) -> dict[str, Any]:
    """Jaeger's own all-in-one configuration, on these ports only and without its metrics."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
        "extensions": {
            "jaeger_storage": {"backends": {"memory": {"memory": {"max_traces": 10_000}}}},
            "jaeger_query": {
                "storage": {"traces": "memory"},
                "http": {"endpoint": f"127.0.0.1:{query_port}"},
                "grpc": {"endpoint": f"127.0.0.1:{query_grpc_port}"},
            },
        },
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory"}},
    }


class Jaeger(Service):
    """`with Jaeger(binary) as jaeger: jaeger.otlp_endpoint, jaeger.traces(service)`."""

    def __init__(self, binary: Path) -> None:
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.otlp_port = self.query_port = 0

    @property
    def otlp_endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces)."""
        return f"http://127.0.0.1:{self.otlp_port}"

    def start(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="capi-jaeger-")
        self.otlp_port, self.query_port = free_port(), free_port()
        config = Path(self._dir.name) / "jaeger.json"  # JSON is YAML
        config.write_text(json.dumps(_config(self.otlp_port, self.query_port, free_port())))
        log = Path(self._dir.name) / "jaeger.log"
        self._process = launch([str(self._binary), f"--config=file:{config}"], log)
        if not self._wait_until_ready():
            tail = log.read_text(errors="replace")[-600:]
            self.stop()
            raise LocalInfraError(f"Jaeger did not start: {tail}")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            if self._get("/api/services") is not None:
                return True
            time.sleep(0.2)
        return False

    def traces(self, service: str) -> list[dict[str, Any]]:
        """Every trace Jaeger holds with a span of `service` (its query API's `data`)."""
        found = self._get(f"/api/traces?service={service}&limit=1000")
        return [] if found is None else list(found.get("data") or [])

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.query_port}{path}"
            with urllib.request.urlopen(url, timeout=5) as answer:
                loaded: dict[str, Any] = json.loads(answer.read())
                return loaded
        except OSError:
            return None

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_group(process)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
