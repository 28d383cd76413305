"""The CPUs this process may use, and what `pipeline.prepare_processes: auto` makes of them.

A container's share is its cgroup CPU quota (`cpu.max`, or `cpu.cfs_quota_us` on cgroup v1), not
the host's core count that `os.cpu_count()` reports; without a quota it is the CPUs the process
is pinned to. A fraction rounds down: 1.5 CPUs is not room for a second busy process.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
# `run --workers N` tells each connector process how many share the pod
# (connector/process/workers.py).
WORKER_COUNT_ENV = "CONNECTOR_WORKER_COUNT"
# The Kafka thread of one process keeps a single prepare process busy (bench/README.md): a
# second one would wait for it and cost ~50 MB.
AUTO_MAX = 1


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """Whole CPUs this process may keep busy: its quota rounded down, within its pinned CPUs."""
    pinned = len(os.sched_getaffinity(0))
    quota = cgroup_quota(cgroup)
    return max(1, min(pinned, math.floor(quota))) if quota is not None else pinned


def cgroup_quota(cgroup: Path = CGROUP) -> float | None:
    """CPUs the cgroup may use (quota / period), or None without a quota."""
    try:
        limit = (cgroup / "cpu.max").read_text(encoding="ascii").split()
    except OSError:
        limit = _cgroup_v1(cgroup)
    if len(limit) != 2 or limit[0] == "max":  # "quota period", or "max period": no quota
        return None
    try:
        quota, period = int(limit[0]), int(limit[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _cgroup_v1(cgroup: Path) -> list[str]:
    try:
        quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text(encoding="ascii").strip()
        period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text(encoding="ascii").strip()
    except OSError:
        return []
    return ["max" if quota == "-1" else quota, period]


def auto_prepare_processes(cpus: int, workers: int) -> int:
    """One prepare process when each connector process has two CPUs or more, else none."""
    return min(AUTO_MAX, max(0, cpus // max(1, workers) - 1))


def worker_count() -> int:
    """The connector processes `run --workers N` started beside this one (1 on its own)."""
    workers = os.environ.get(WORKER_COUNT_ENV, "1")
    return max(1, int(workers)) if workers.isdigit() else 1


def prepare_processes(setting: int | str, *, native: bool = False) -> int:
    """The setting as a count: `auto` sized from this process's CPUs and `run --workers`, and
    none when the native prepare path runs: it prepares without the GIL in the Kafka thread, so
    a second process would only add the hand-off's CPU (bench/README.md, "The native prepare
    path")."""
    if setting != "auto":
        return int(setting)
    if native:
        return 0
    return auto_prepare_processes(usable_cpus(), worker_count())
