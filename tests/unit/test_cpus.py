"""`pipeline.prepare_processes: auto`: the CPUs a process may use, from its cgroup quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from connector.config import PipelineSettings
from connector.process import cpus


def _cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max + "\n", encoding="ascii")
    return root


def _cgroup_v1(root: Path, quota_us: str, period_us: str) -> Path:
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota_us + "\n", encoding="ascii")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period_us + "\n", encoding="ascii")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "quota"),
    [
        ("200000 100000", 2.0),
        ("150000 100000", 1.5),
        ("50000 100000", 0.5),
        ("max 100000", None),
        ("garbage", None),
        ("0 100000", None),
    ],
)
def test_the_cgroup_v2_quota_is_quota_over_period(
    tmp_path: Path, cpu_max: str, quota: float | None
) -> None:
    assert cpus.cgroup_quota(_cgroup_v2(tmp_path, cpu_max)) == quota


def test_the_cgroup_v1_quota_is_read_when_there_is_no_cpu_max(tmp_path: Path) -> None:
    assert cpus.cgroup_quota(_cgroup_v1(tmp_path, "300000", "100000")) == 3.0


def test_cgroup_v1_without_a_quota_and_no_cgroup_at_all_mean_no_quota(tmp_path: Path) -> None:
    assert cpus.cgroup_quota(_cgroup_v1(tmp_path / "v1", "-1", "100000")) is None
    assert cpus.cgroup_quota(tmp_path / "none") is None


def test_usable_cpus_is_the_quota_rounded_down_within_the_pinned_cpus(tmp_path: Path) -> None:
    pinned = len(os.sched_getaffinity(0))
    assert cpus.usable_cpus(_cgroup_v2(tmp_path / "a", "max 100000")) == pinned
    assert cpus.usable_cpus(_cgroup_v2(tmp_path / "b", "150000 100000")) == 1
    assert cpus.usable_cpus(_cgroup_v2(tmp_path / "c", "50000 100000")) == 1
    assert cpus.usable_cpus(_cgroup_v2(tmp_path / "d", "6400000 100000")) == pinned
    assert cpus.usable_cpus(tmp_path / "none") == pinned


@pytest.mark.parametrize(
    ("usable", "workers", "expected"),
    [(1, 1, 0), (2, 1, 1), (3, 1, 1), (16, 1, 1), (2, 2, 0), (3, 2, 0), (4, 2, 1)],
)
def test_auto_is_one_prepare_process_when_each_worker_has_two_cpus(
    usable: int, workers: int, expected: int
) -> None:
    assert cpus.auto_prepare_processes(usable, workers) == expected


def test_the_setting_resolves_auto_with_the_worker_count_of_run_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    usable = cpus.usable_cpus()
    monkeypatch.setenv(cpus.WORKER_COUNT_ENV, "2")
    assert cpus.prepare_processes("auto") == cpus.auto_prepare_processes(usable, 2)
    monkeypatch.delenv(cpus.WORKER_COUNT_ENV)
    assert cpus.prepare_processes("auto") == cpus.auto_prepare_processes(usable, 1)
    assert cpus.prepare_processes(0) == 0
    assert cpus.prepare_processes(3) == 3


def test_auto_is_no_prepare_process_when_the_native_path_prepares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 4)
    assert cpus.prepare_processes("auto", native=False) == 1
    assert cpus.prepare_processes("auto", native=True) == 0
    assert cpus.prepare_processes(2, native=True) == 2  # a count is taken as it is


def test_prepare_processes_is_auto_by_default_and_takes_a_count_or_auto() -> None:
    assert PipelineSettings().prepare_processes == "auto"
    assert PipelineSettings(prepare_processes="2").prepare_processes == 2  # type: ignore[arg-type]
    assert PipelineSettings(prepare_processes="auto").prepare_processes == "auto"
    for wrong in ("-1", "65", "many"):
        with pytest.raises(ValidationError, match="prepare_processes"):
            PipelineSettings(prepare_processes=wrong)  # type: ignore[arg-type]
