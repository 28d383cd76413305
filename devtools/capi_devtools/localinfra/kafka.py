"""A real single-node Kafka broker (KRaft, broker and controller) on loopback, for tests and demos.

`with KafkaBroker() as broker: broker.bootstrap` formats a fresh log directory in a temporary
folder, starts the JVM in its own process group on free ports, waits until the broker answers a
metadata request, and on exit stops it (SIGTERM, then SIGKILL of the group) and removes the folder.
`restart()` stops the JVM and starts it again on the same ports and data (a broker outage).

`KafkaBroker(sasl_ssl=SaslSsl(tls, users))` opens a second listener, SASL_SSL with SCRAM-SHA-512
(users created at format time, `kafka-storage format --add-scram`) and a certificate from
`capi_devtools.localinfra.tls`: `broker.sasl_ssl_bootstrap`. The PLAINTEXT listener stays.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

from capi_devtools.errors import LocalInfraError
from capi_devtools.localinfra.jars import kafka_libs, require_tool
from capi_devtools.localinfra.processes import launch, stop_group
from capi_devtools.localinfra.tls import TlsMaterial
from connector.process.service import Service

START_TIMEOUT_S = 90.0
_PORT_ATTEMPTS = 3

_LOG4J = """\
status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class SaslSsl:
    """A SASL_SSL listener: its certificate and its SCRAM users (name → password)."""

    tls: TlsMaterial
    users: Mapping[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class KafkaBroker(Service):
    """One broker process. Not reusable: start it once, stop it once."""

    def __init__(
        self,
        *,
        extra_properties: dict[str, str] | None = None,
        heap: str = "512m",
        libs: Path | None = None,
        sasl_ssl: SaslSsl | None = None,
    ) -> None:
        self._extra = dict(extra_properties or {})
        self._heap = heap
        self._libs = libs
        self._sasl_ssl = sasl_ssl
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._launch_command: list[str] = []
        self.port = 0
        self.controller_port = 0
        self.sasl_ssl_port = 0
        self.start_seconds = 0.0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """The SASL_SSL listener, by the name its certificate carries."""
        if self._sasl_ssl is None:
            raise LocalInfraError("this broker was started without a SASL_SSL listener")
        return f"localhost:{self.sasl_ssl_port}"

    @property
    def workdir(self) -> Path | None:
        return self._workdir

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        java = require_tool("java", "Java 17 (e.g. apt-get install openjdk-17-jre-headless)")
        libs = self._libs or kafka_libs()
        began = time.monotonic()
        self._workdir = Path(tempfile.mkdtemp(prefix="capi-kafka-"))
        try:
            self._start_with_retries(java, libs)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def _start_with_retries(self, java: str, libs: Path) -> None:
        # Another process can take a free port between our probe and the JVM's bind: try again.
        last_log = ""
        for _ in range(_PORT_ATTEMPTS):
            self.port, self.controller_port = free_port(), free_port()
            self.sasl_ssl_port = free_port() if self._sasl_ssl is not None else 0
            self._format_and_launch(java, libs)
            if self._wait_until_ready():
                return
            last_log = self._log_tail()
            self._kill()
            if "Address already in use" not in last_log:
                break
        raise LocalInfraError(f"the Kafka broker did not start; last log lines: {last_log}")

    def _format_and_launch(self, java: str, libs: Path) -> None:
        workdir = self._workdir or Path(tempfile.mkdtemp(prefix="capi-kafka-"))
        self._workdir = workdir
        data = workdir / f"data-{self.port}"
        properties = workdir / "server.properties"
        log4j = workdir / "log4j2.properties"
        properties.write_text(self._server_properties(data), encoding="utf-8")
        log4j.write_text(_LOG4J, encoding="utf-8")
        classpath = f"{libs}/*"
        log4j_flag = f"-Dlog4j2.configurationFile={log4j}"
        cluster_id = self._run_tool(java, classpath, log4j_flag, ["random-uuid"]).strip()
        self._run_tool(
            java,
            classpath,
            log4j_flag,
            ["format", "--standalone", "-t", cluster_id, "-c", str(properties), *self._scram()],
        )
        self._launch_command = [
            java,
            f"-Xms{self._heap}",
            f"-Xmx{self._heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            "-Djava.awt.headless=true",
            log4j_flag,
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties),
        ]
        self._launch()

    def _launch(self) -> None:
        assert self._workdir is not None  # noqa: S101 - set by start()
        self._process = launch(self._launch_command, self._workdir / "broker.log")

    def restart(self, *, hard: bool = False) -> float:
        """Stop the JVM (SIGTERM, or SIGKILL when `hard`) and start it again on the same ports
        and data, without formatting; returns the seconds the broker was away."""
        if self._workdir is None or not self._launch_command:
            raise LocalInfraError("restart() needs a started broker")
        began = time.monotonic()
        if hard and self._process is not None:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._kill()
        self._launch()
        if not self._wait_until_ready():
            raise LocalInfraError(f"the Kafka broker did not come back: {self._log_tail()}")
        return time.monotonic() - began

    def _scram(self) -> list[str]:
        if self._sasl_ssl is None:
            return []
        return [
            arg
            for name, password in self._sasl_ssl.users.items()
            for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")
        ]

    def _server_properties(self, data: Path) -> str:
        listeners = {
            "PLAINTEXT": f"127.0.0.1:{self.port}",
            "CONTROLLER": f"127.0.0.1:{self.controller_port}",
        }
        advertised = dict(listeners)
        protocols = {"CONTROLLER": "PLAINTEXT", "PLAINTEXT": "PLAINTEXT"}
        if self._sasl_ssl is not None:
            # Listen on loopback, advertise the name the certificate carries for it.
            listeners["SASL_SSL"] = f"127.0.0.1:{self.sasl_ssl_port}"
            advertised["SASL_SSL"] = f"localhost:{self.sasl_ssl_port}"
            protocols["SASL_SSL"] = "SASL_SSL"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": listeners["CONTROLLER"],
            "listeners": ",".join(f"{k}://{v}" for k, v in listeners.items()),
            "advertised.listeners": ",".join(f"{k}://{v}" for k, v in advertised.items()),
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": ",".join(f"{k}:{v}" for k, v in protocols.items()),
            "log.dirs": str(data),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "auto.create.topics.enable": "false",
            "log.flush.interval.messages": "9223372036854775807",
        }
        if self._sasl_ssl is not None:
            props.update(_sasl_ssl_properties(self._sasl_ssl.tls))
        props.update(self._extra)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _run_tool(self, java: str, classpath: str, log4j_flag: str, args: list[str]) -> str:
        command = [java, "-cp", classpath, log4j_flag, "kafka.tools.StorageTool", *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise LocalInfraError(f"kafka-storage {args[0]} failed: {' | '.join(detail)}")
        return done.stdout

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                metadata = admin.list_topics(timeout=2)
            except Exception:  # KafkaException while the broker is still fenced
                time.sleep(0.3)
                continue
            if metadata.brokers:
                return True
        return False

    def _log_tail(self, lines: int = 8) -> str:
        if self._workdir is None:
            return ""
        log = self._workdir / "broker.log"
        if not log.is_file():
            return ""
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def _kill(self) -> None:
        process, self._process = self._process, None
        stop_group(process)

    def stop(self) -> None:
        """Stop the broker and remove its files. Safe to call twice."""
        self._kill()
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _sasl_ssl_properties(tls: TlsMaterial) -> dict[str, str]:
    jaas = f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"
    return {
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        jaas: "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls.keystore),
        "ssl.keystore.password": tls.password,
        "ssl.key.password": tls.password,
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(tls.truststore),
        "ssl.truststore.password": tls.password,
        "ssl.client.auth": "none",
    }
