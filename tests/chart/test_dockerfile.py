"""The Dockerfile (read, not built: no Docker engine here) agrees with the chart's assumptions."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.chart.helm import CHART_DIR, REPO_ROOT

pytestmark = pytest.mark.chart

DOCKERFILE = REPO_ROOT / "Dockerfile"


def stages() -> list[list[str]]:
    """The instructions of each stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(stripped)
    return found


def instruction(stage: list[str], name: str) -> list[str]:
    return [line[len(name) + 1 :] for line in stage if line.upper().startswith(name + " ")]


def test_two_stages_build_the_wheel_then_install_it() -> None:
    build, runtime = stages()
    assert instruction(build, "FROM") == ["${PYTHON_IMAGE} AS build"]
    assert any("pip wheel --no-deps" in run for run in instruction(build, "RUN"))
    installs = [run for run in instruction(runtime, "RUN") if "pip install" in run]
    assert len(installs) == 1
    assert "--only-binary=:all:" in installs[0]  # nothing compiled: no compiler needed
    assert "/wheels/*.whl" in installs[0]
    assert "-c /constraints.txt" in installs[0]  # the versions CI tested
    assert "source=/src/constraints.txt,target=/constraints.txt" in installs[0]
    (copy,) = [c for c in instruction(build, "COPY") if "pyproject.toml" in c]
    assert "constraints.txt" in copy.split()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in DOCKERFILE.read_text(encoding="utf-8")


def test_only_the_connector_is_built_and_installed() -> None:
    build, runtime = stages()
    copied = [source for copy in instruction(build, "COPY") for source in copy.split()[:-1]]
    assert sorted(copied) == [
        "LICENSE",
        "README.md",
        "connector",
        "constraints.txt",
        "pyproject.toml",
    ]
    (wheel,) = [run for run in instruction(build, "RUN") if "pip wheel" in run]
    assert wheel.split()[-1] == "."  # the connector's pyproject.toml, not devtools/
    assert "devtools" not in DOCKERFILE.read_text(encoding="utf-8")
    assert not [line for line in runtime if line.upper().startswith(("COPY ", "ADD "))]


def test_final_stage_has_no_build_tools() -> None:
    runtime = stages()[-1]
    text = " ".join(runtime)
    for tool in ("apt-get install", "gcc", "build-essential", "make "):
        assert tool not in text


def test_runs_as_the_chart_s_numeric_non_root_user() -> None:
    runtime = stages()[-1]
    (user,) = instruction(runtime, "USER")
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    uid, gid = (int(part) for part in user.split(":"))
    assert uid > 0
    assert (uid, gid) == (
        values["securityContext"]["runAsUser"],
        values["securityContext"]["runAsGroup"],
    )


def test_entrypoint_cmd_port_and_healthcheck() -> None:
    runtime = stages()[-1]
    assert [json.loads(e) for e in instruction(runtime, "ENTRYPOINT")] == [
        ["spotify-capi-connector"]
    ]
    assert [json.loads(c) for c in instruction(runtime, "CMD")] == [["run"]]
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    assert instruction(runtime, "EXPOSE") == [str(values["config"]["telemetry"]["health_port"])]
    (healthcheck,) = instruction(runtime, "HEALTHCHECK")
    assert "http://127.0.0.1:8080/healthz" in healthcheck


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in (".git", ".venv", ".cache", "tests", "helm", "devtools"):
        assert path in ignored
    for needed in ("connector", "pyproject.toml", "README.md"):
        assert needed not in ignored


def test_oci_labels_name_source_revision_and_version() -> None:
    runtime = stages()[-1]
    (labels,) = instruction(runtime, "LABEL")
    for key, arg in (("version", "VERSION"), ("revision", "REVISION"), ("source", "SOURCE")):
        assert f'org.opencontainers.image.{key}="${{{arg}}}"' in labels
        assert any(a.startswith(f"{arg}=") for a in instruction(runtime, "ARG")), arg
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (version,) = [a for a in instruction(runtime, "ARG") if a.startswith("VERSION=")]
    assert f'version = "{version.removeprefix("VERSION=")}"' in pyproject
