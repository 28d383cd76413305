"""The Dockerfile (read, not built: no Docker engine here) agrees with the chart's assumptions."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml

from tests.chart.helm import CHART_DIR, REPO_ROOT

pytestmark = pytest.mark.chart

DOCKERFILE = REPO_ROOT / "Dockerfile"
RUNTIME_LOCK = REPO_ROOT / "requirements" / "runtime.lock"


def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_requirements() -> dict[str, list[str]]:
    """Each requirement line of the lock (continuations joined): its `name==version`, its tokens."""
    text = re.sub(r"\\\n", " ", RUNTIME_LOCK.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    requirements = [line.split() for line in lines if line and not line.startswith("#")]
    return {tokens[0].removesuffix(";"): tokens[1:] for tokens in requirements}


def pins(lines: list[str]) -> dict[str, str]:
    """`name==version` lines as normalised name -> version."""
    found: dict[str, str] = {}
    for line in lines:
        name, separator, version = line.partition("==")
        assert separator, line
        found[normalise(name)] = version
    return found


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
    (run,) = [run for run in instruction(runtime, "RUN") if "pip install" in run]
    dependencies, connector = [part.strip() for part in run.split("&&") if "pip install" in part]
    # Dependencies: only the lock's files, each checked against its recorded sha256.
    assert "--require-hashes" in dependencies.split()
    assert "--only-binary=:all:" in dependencies.split()  # nothing compiled: no compiler needed
    assert dependencies.endswith("-r /runtime.lock")
    assert "source=/src/requirements/runtime.lock,target=/runtime.lock" in run
    # The connector's wheel cannot be hashed in advance: it goes in alone, from the build stage.
    assert connector.split()[-1] == "/wheels/*.whl"
    assert "--no-deps" in connector.split()
    assert "--no-index" in connector.split()
    assert "constraints.txt" not in run  # the lock carries constraints.txt's versions
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in DOCKERFILE.read_text(encoding="utf-8")


def test_only_the_connector_is_built_and_installed() -> None:
    build, runtime = stages()
    copied = [source for copy in instruction(build, "COPY") for source in copy.split()[:-1]]
    assert sorted(copied) == [
        "LICENSE",
        "README.md",
        "connector",
        "constraints.txt",
        "native/Cargo.lock",
        "native/Cargo.toml",
        "native/src",
        "pyproject.toml",
        "requirements/runtime.lock",
        "setup.py",
    ]
    (wheel,) = [run for run in instruction(build, "RUN") if "pip wheel" in run]
    assert wheel.split()[-1] == "."  # the connector's pyproject.toml, not devtools/
    assert "devtools" not in DOCKERFILE.read_text(encoding="utf-8")
    assert not [line for line in runtime if line.upper().startswith(("COPY ", "ADD "))]


def test_the_build_stage_compiles_the_hot_path_with_the_pinned_mypy() -> None:
    build = stages()[0]
    installs = " ".join(run for run in instruction(build, "RUN") if "apt-get install" in run)
    assert "gcc" in installs.split()  # mypyc's C needs a compiler; setup.py fails without one
    # pip's isolated build environment takes constraints.txt's mypy, the one the tests ran.
    assert "PIP_CONSTRAINT=/src/constraints.txt" in " ".join(instruction(build, "ENV")).split()
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    constraints = (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    (mypy,) = [line for line in constraints if line.startswith("mypy==")]
    assert mypy in requires["build-system"]["requires"]
    # Nothing turns the compilation off (setup.py's switch for the editable dev install).
    assert "CAPI_PURE_PYTHON_BUILD" not in DOCKERFILE.read_text(encoding="utf-8")
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "**/*.so" in ignored  # extensions built in place never reach the image


def test_the_build_stage_builds_the_rust_extension_with_the_pinned_setuptools_rust() -> None:
    build = stages()[0]
    installs = " ".join(run for run in instruction(build, "RUN") if "apt-get install" in run)
    # Debian's current Rust for bookworm: its plain `rustc`/`cargo` (1.63) are older than the
    # crates native/Cargo.lock locks need; setup.py fails without cargo.
    assert {"cargo-web", "rustc-web"} <= set(installs.split())
    # The crate's manifest, lock and sources reach the build (COPY sources, checked above).
    copies = " ".join(instruction(build, "COPY")).split()
    assert {"native/Cargo.toml", "native/Cargo.lock", "native/src"} <= set(copies)
    # pip's isolated build environment takes constraints.txt's setuptools-rust (PIP_CONSTRAINT).
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    constraints = (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    (setuptools_rust,) = [line for line in constraints if line.startswith("setuptools-rust==")]
    assert setuptools_rust in requires["build-system"]["requires"]
    # setup.py builds the crate as the module the connector imports.
    setup_py = (REPO_ROOT / "setup.py").read_text(encoding="utf-8")
    assert '"connector.prepare._native", path="native/Cargo.toml"' in setup_py
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "native/target" in ignored  # a local cargo build tree never reaches the image


def test_final_stage_has_no_build_tools() -> None:
    runtime = stages()[-1]
    text = " ".join(runtime)
    for tool in ("apt-get install", "gcc", "build-essential", "make ", "cargo", "rustc"):
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
    for needed in ("connector", "native", "pyproject.toml", "README.md"):
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


def test_every_locked_requirement_carries_a_sha256() -> None:
    requirements = lock_requirements()
    assert len(requirements) > 20  # the parser found the lock's entries, not just a header
    for pin, tokens in requirements.items():
        assert "==" in pin, pin  # an exact version: a range would defeat the hashes
        hashes = [t for t in tokens if t.startswith("--hash=")]
        assert hashes, pin
        assert all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", h) for h in hashes), pin


def test_the_lock_pins_constraints_versions_for_every_runtime_dependency() -> None:
    locked = pins(list(lock_requirements()))
    constraints = pins(
        [
            line.strip()
            for line in (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
    )
    # Nothing in the image that CI did not test, at the version CI tested.
    assert {name: constraints.get(name) for name in locked} == locked
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dependencies = project["dependencies"]
    direct = {normalise(re.split(r"[\[<>=!~;\s]", d, maxsplit=1)[0]) for d in dependencies}
    assert len(direct) == len(dependencies)
    assert direct - set(locked) == set()
    # Runtime only: the dev tools stay out of the image.
    for tool in ("pytest", "mypy", "ruff", "hypothesis", "kubernetes-validate", "setuptools"):
        assert tool not in locked
