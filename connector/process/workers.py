"""`run --workers N`: N connector processes in one consumer group, from one command.

Python runs one core per process; the group spreads partitions over the workers. The parent only
supervises: it forwards SIGTERM/SIGINT, and when one worker fails it stops the others and exits
with that worker's code, so the orchestrator restarts the whole set (each worker commits only
what it settled, so nothing is lost either way).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from connector.process.cpus import WORKER_COUNT_ENV

log = logging.getLogger("connector.process.workers")


def worker_env(index: int, count: int, base_health_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["CONNECTOR_WORKER_INDEX"] = str(index)
    env[WORKER_COUNT_ENV] = str(count)  # `prepare_processes: auto` shares the CPUs among them
    if base_health_port:  # each worker serves its own probes and metrics
        env["CONNECTOR_TELEMETRY__HEALTH_PORT"] = str(base_health_port + index)
    return env


def supervise(count: int, run_args: Sequence[str], base_health_port: int) -> int:
    command = [sys.executable, "-m", "connector", "run", *run_args]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    children.extend(
        subprocess.Popen(command, env=worker_env(i, count, base_health_port))  # noqa: S603
        for i in range(count)
    )
    if stopping:  # a signal came while the workers were being started
        forward(signal.SIGTERM, None)
    log.info("workers started", extra={"workers": count, "pids": [c.pid for c in children]})
    while any(child.poll() is None for child in children):
        failed = [c for c in children if c.returncode not in (None, 0)]
        if failed and not stopping:
            log.error("a worker failed; stopping the others", extra={"code": failed[0].returncode})
            forward(signal.SIGTERM, None)
        time.sleep(0.2)
    codes = [child.returncode for child in children]
    return next((code for code in codes if code != 0), 0)
