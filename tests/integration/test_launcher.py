"""The broker launcher cleans up after itself and reports missing tools clearly."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from capi_devtools.localinfra import KafkaBroker
from capi_devtools.localinfra import kafka as kafka_module

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it holds no resources but count it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_broker_stops_leaving_no_process_and_no_files() -> None:
    broker = KafkaBroker()
    broker.start()
    pid, workdir = broker.pid, broker.workdir
    assert pid is not None
    assert workdir is not None
    assert workdir.is_dir()
    metadata = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert list(metadata.brokers) == [1]
    broker.stop()
    assert not _alive(pid)
    assert not workdir.exists()
    broker.stop()  # a second stop is harmless


def test_port_clash_is_retried_on_another_port(monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    ports = iter([taken, kafka_module.free_port()])
    real_free_port = kafka_module.free_port

    def clashing_first() -> int:
        return next(ports, None) or real_free_port()

    monkeypatch.setattr(kafka_module, "free_port", clashing_first)
    try:
        with KafkaBroker() as broker:
            assert broker.port != taken
            metadata = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
            assert list(metadata.brokers) == [1]
    finally:
        blocker.close()


def test_missing_java_is_one_actionable_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # neither java nor mvn on PATH
    done = subprocess.run(
        [sys.executable, "-m", "capi_devtools.localinfra", "kafka"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "error: 'java' was not found on PATH: install Java 17 "
        "(e.g. apt-get install openjdk-17-jre-headless) to run the local Kafka broker"
    ]
    assert "Traceback" not in done.stderr


def test_broker_dies_with_a_parent_killed_by_sigkill() -> None:
    script = (
        "from capi_devtools.localinfra import KafkaBroker\n"
        "import time\n"
        "broker = KafkaBroker()\n"
        "broker.start()\n"
        "print(broker.pid, broker.workdir, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None
    pid_text, workdir = parent.stdout.readline().split()
    broker_pid = int(pid_text)
    assert _alive(broker_pid)
    os.kill(parent.pid, 9)
    parent.wait(10)
    parent.stdout.close()
    deadline = time.monotonic() + 30
    while _alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(broker_pid)
    shutil.rmtree(workdir, ignore_errors=True)  # SIGKILL left no chance to remove it
