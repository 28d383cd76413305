"""A real Confluent-compatible Schema Registry on loopback: Apicurio Registry from Maven Central.

Apicurio 3.x serves the Confluent API under /apis/ccompat/v7. It needs Java 21 or newer: the
`java` on PATH is used when it is new enough, else a newer JDK under /usr/lib/jvm or $JAVA_HOME.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from capi_devtools.errors import LocalInfraError
from capi_devtools.localinfra.jars import cache_dir, require_tool
from capi_devtools.localinfra.kafka import free_port
from capi_devtools.localinfra.processes import launch, stop_group
from connector.process.service import Service

APICURIO = "io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all"
MIN_JAVA = 21
START_TIMEOUT_S = 120.0


def java_major(java: str) -> int:
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    match = re.search(r'version "(\d+)', done.stderr + done.stdout)
    return int(match.group(1)) if match else 0


def find_java(minimum: int = MIN_JAVA) -> str:
    candidates = [shutil.which("java")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    candidates += [str(p / "bin" / "java") for p in sorted(Path("/usr/lib/jvm").glob("*"))]
    for java in candidates:
        if java and Path(java).is_file() and java_major(java) >= minimum:
            return java
    raise LocalInfraError(
        f"the local Schema Registry (Apicurio 3) needs Java {minimum} or newer: install one "
        "(e.g. apt-get install openjdk-21-jre-headless) or set JAVA_HOME to it"
    )


def registry_app(cache: Path | None = None) -> Path:
    """The unpacked Apicurio application, fetched with Maven the first time."""
    root = (cache or cache_dir()) / "apicurio"
    app = root / "app"
    if (app / "quarkus-run.jar").is_file():
        return app
    mvn = require_tool("mvn", "Maven 3 (e.g. apt-get install maven)")
    root.mkdir(parents=True, exist_ok=True)
    command = [
        mvn,
        "-B",
        "-q",
        "dependency:copy",
        f"-Dartifact={APICURIO}",
        f"-DoutputDirectory={root}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    archives = list(root.glob("apicurio-registry-app-*.tar.gz"))
    if done.returncode != 0 or not archives:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise LocalInfraError("Maven could not fetch Apicurio Registry: " + " | ".join(tail))
    staging = Path(tempfile.mkdtemp(dir=root))
    with tarfile.open(archives[0]) as archive:
        archive.extractall(staging, filter="data")
    staging.rename(app)
    archives[0].unlink()
    return app


class SchemaRegistry(Service):
    """`with SchemaRegistry() as registry: registry.url` (the Confluent-compatible base URL)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self.port = 0
        self.start_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/apis/ccompat/v7"

    def start(self) -> None:
        java = find_java()
        app = registry_app()
        began = time.monotonic()
        self.port = free_port()
        fd, log_name = tempfile.mkstemp(prefix="capi-registry-", suffix=".log")
        os.close(fd)
        self._log = Path(log_name)
        command = [
            java,
            "-Xmx384m",
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.management.host=127.0.0.1",
            f"-Dquarkus.management.port={free_port()}",
            "-jar",
            "quarkus-run.jar",
        ]
        self._process = launch(command, self._log, cwd=app)
        if not self._wait_until_ready():
            tail = self._log.read_text(errors="replace").strip().splitlines()[-5:]
            self.stop()
            raise LocalInfraError("the Schema Registry did not start: " + " | ".join(tail))
        self.start_seconds = time.monotonic() - began

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/subjects", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_group(process)
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None
