"""Runs helm on the chart and parses what it renders (shared by the chart tests)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "spotify-capi-connector"
FULL_VALUES = CHART_DIR / "ci" / "full-values.yaml"
KUBE_VERSION = "1.31.0"
RELEASE = "capi"
NAMESPACE = "conversions"

Manifest = dict[str, Any]


def find_helm() -> Path | None:
    return find_tool("helm")


def find_tool(name: str) -> Path | None:
    """A Go tool built by scripts/install-<name>.sh into .cache/bin, or one on PATH."""
    local = REPO_ROOT / ".cache" / "bin" / name
    if local.is_file():
        return local
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


def require_tool(name: str) -> Path:
    """The tool, or a skip saying how to build it; under CI=true a missing tool fails."""
    found = find_tool(name)
    if found is None:
        message = f"{name} not found: run `bash scripts/install-{name}.sh` (or `make setup`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass(frozen=True)
class Rendered:
    """The objects of one `helm template`, in order."""

    text: str
    objects: list[Manifest]

    def all(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> Manifest:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {obj["kind"] for obj in self.objects}


class HelmFailed(Exception):
    def __init__(self, stderr: str) -> None:
        super().__init__(stderr)
        self.stderr = stderr


class Chart:
    """Runs helm on the chart; renders are cached by their values (helm calls cost ~0.1 s)."""

    def __init__(self, helm: Path, workdir: Path, chart_dir: Path = CHART_DIR) -> None:
        self.helm = helm
        self.workdir = workdir
        self.chart_dir = chart_dir
        self._renders: dict[str, Rendered] = {}
        self._files = itertools.count()

    def _values_args(self, values: dict[str, Any] | None, files: tuple[Path, ...]) -> list[str]:
        args: list[str] = []
        for path in files:
            args += ["--values", str(path)]
        if values is not None:
            path = self.workdir / f"values-{next(self._files)}.yaml"
            path.write_text(yaml.safe_dump(values), encoding="utf-8")
            args += ["--values", str(path)]
        return args

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own helm binary, fixed arguments
            [str(self.helm), *args], capture_output=True, text=True, timeout=60, check=False
        )

    def lint(self, values: dict[str, Any] | None = None, *files: Path) -> str:
        result = self.run(
            "lint", "--strict", "--kube-version", KUBE_VERSION, str(self.chart_dir),
            *self._values_args(values, files),
        )  # fmt: skip
        if result.returncode != 0:
            raise HelmFailed(result.stdout + result.stderr)
        return result.stdout

    def render(self, values: dict[str, Any] | None = None, *files: Path) -> Rendered:
        key = json.dumps([values, [str(f) for f in files]], sort_keys=True)
        if key not in self._renders:
            result = self.run(
                "template", RELEASE, str(self.chart_dir), "--namespace", NAMESPACE,
                "--kube-version", KUBE_VERSION, *self._values_args(values, files),
            )  # fmt: skip
            if result.returncode != 0:
                raise HelmFailed(result.stderr)
            objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
            self._renders[key] = Rendered(result.stdout, objects)
        return self._renders[key]

    def render_error(self, values: dict[str, Any]) -> str:
        """The error of a render that must fail."""
        with pytest.raises(HelmFailed) as failed:
            self.render(values)
        return failed.value.stderr


def container(rendered: Rendered) -> Manifest:
    spec = rendered.one("Deployment")["spec"]["template"]["spec"]
    containers: list[Manifest] = spec["containers"]
    assert len(containers) == 1
    return containers[0]


def config_yaml(rendered: Rendered) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(rendered.one("ConfigMap")["data"]["config.yaml"])
    return loaded
