"""The local services' processes (broker, Schema Registry, Jaeger): each started in a process
group of its own and tied to this process's life, stopped with its whole group (SIGTERM, then
SIGKILL), so a JVM's or a Go binary's children never outlive the tests."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from connector.process.lifetime import die_with_parent

STOP_TIMEOUT_S = 20.0


def launch(command: list[str], log: Path, *, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `command`, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - fixed commands of our own, no shell
            command,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - set before exec, nothing shared
        )


def stop_group(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a launched process and its group; nothing when it is gone already."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:
        process.wait(timeout=STOP_TIMEOUT_S)
