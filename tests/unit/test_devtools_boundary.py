"""The connector's wheel, built from what the image's build stage copies: the runtime, its schemas
and the Google taxonomy; none of the dev tools (sandbox, local infrastructure, samples, demo)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_STAGE_FILES = ("pyproject.toml", "setup.py", "constraints.txt", "README.md", "LICENSE")
DEV_TOOL_NAMES = {"capi_devtools", "sandbox", "localinfra", "samples", "demo"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_STAGE_FILES:
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "connector",
        source / "connector",
        ignore=shutil.ignore_patterns("__pycache__", "*.so"),
    )
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    # Without mypyc: compiling would add a minute and change nothing checked here. The image's
    # build compiles (tests/chart/test_dockerfile.py); `make setup` builds the same extensions.
    subprocess.run(  # noqa: S603 - pip on our own source
        [*command, "--no-index", "-w", str(out), str(source)],
        check=True,
        timeout=300,
        env={**os.environ, "CAPI_PURE_PYTHON_BUILD": "1"},
    )
    (built,) = out.glob("spotify_capi_connector-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_no_dev_tool_module(wheel: zipfile.ZipFile) -> None:
    modules = [name.removesuffix(".py").split("/") for name in wheel.namelist()]
    assert [m for m in modules if DEV_TOOL_NAMES & set(m)] == []
    assert ["connector", "cli"] in modules  # the check above looked at the runtime's modules


def test_the_wheel_holds_the_schemas_and_the_taxonomy(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for data in (
        "connector/py.typed",
        "connector/schemas/tracking_event.avsc",
        "connector/schemas/delivery_result.avsc",
        "connector/transform/data/google-product-taxonomy-with-ids.en-US.txt",
    ):
        assert data in names


def test_the_wheel_registers_no_extra_command(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert text.split() == [
        "[console_scripts]",
        "spotify-capi-connector",
        "=",
        "connector.cli:main",
    ]


def test_the_runtime_never_imports_the_dev_tools() -> None:
    stray = []
    for path in sorted((REPO_ROOT / "connector").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            top = {module.split(".")[0] for module in modules}
            if "capi_devtools" in top:
                stray.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert stray == []
