"""The boundaries hold: ruff refuses `confluent_kafka` outside connector/kafka/ and the native
bridge outside the preparer; the code's own imports keep to the floors of the house (no import
runs up a floor or across one, no circle), config.py imports no part, a stage's rules know no
other stage, and connector/ keeps a dozen modules flat."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The project's ruff and configuration, the banned-import rule alone."""
    return subprocess.run(  # noqa: S603 - our own ruff, fixed arguments
        [str(RUFF), "check", "--no-cache", "--select", "TID251", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def lint(path: str, source: str) -> subprocess.CompletedProcess[str]:
    """`source` linted as if it were the file at `path`."""
    return ruff("--stdin-filename", path, "-", stdin=source)


@pytest.mark.parametrize(
    "source",
    [
        "import confluent_kafka\n",
        "from confluent_kafka import Consumer\n",
        "from confluent_kafka.schema_registry import SchemaRegistryClient\n",
    ],
)
@pytest.mark.parametrize("path", ["connector/stray.py", "connector/sink/stray.py"])
def test_a_stray_confluent_kafka_import_fails_the_lint(path: str, source: str) -> None:
    linted = lint(path, source)
    assert linted.returncode == 1
    assert "TID251" in linted.stdout


@pytest.mark.parametrize("path", ["connector/kafka/stray.py", "tests/unit/stray.py"])
def test_the_kafka_package_and_the_tests_may_import_it(path: str) -> None:
    linted = lint(path, "from confluent_kafka import Consumer\n")
    assert (linted.returncode, "TID251" in linted.stdout) == (0, False)


def test_the_connector_as_it_is_passes_the_rule() -> None:
    checked = ruff("connector")
    assert (checked.returncode, checked.stdout.strip()) == (0, "All checks passed!")


@pytest.mark.parametrize(
    "source", ["from connector.prepare import native\n", "import connector.prepare._native\n"]
)
@pytest.mark.parametrize(
    "path", ["connector/transform/stray.py", "connector/sink/stray.py", "connector/pipeline.py"]
)
def test_the_native_bridge_outside_the_preparer_fails_the_lint(path: str, source: str) -> None:
    linted = lint(path, source)
    assert linted.returncode == 1
    assert "TID251" in linted.stdout


# --- the floors of the house, from the code's own imports ----------------------------------------

# Top to bottom. A module imports only modules of lower floors, or of its own unit (the same
# package, or itself): never one on its floor or above. `connector/__init__.py` is left out: it
# is the package's face (every module imports it with the package) and installs the build switch.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("connector.__main__",),
    ("connector.cli",),
    ("connector.commands",),
    ("connector.assemble",),  # the real parts wired, and the settings checked against them
    ("connector.pipeline", "connector.reconcile"),  # one job each: deliver; compare with Spotify
    ("connector.results",),  # a record's result, from what the preparer and the sink said
    ("connector.prepare",),
    ("connector.checkpoint", "connector.kafka", "connector.observe", "connector.sink_thread"),
    ("connector.ports",),
    ("connector.transform", "connector.sink"),  # the stages' rules: they know no other stage
    ("connector.config", "connector.process"),
    ("connector.errors", "connector.models", "connector.offsets", "connector.schemas"),
)
ROOT_PACKAGE = ROOT / "connector"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The floor's unit a module belongs to: its package under connector/, or itself."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (ROOT_PACKAGE / parts[1]).is_dir()):
        return ".".join(parts[:2])
    return module


def connector_imports(path: Path) -> set[str]:
    """The connector modules a file imports, anywhere in it (lazy imports too), as units."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found.update(unit_of(name) for name in names if name.startswith("connector."))
    return found


def the_house() -> dict[str, set[str]]:
    """Each connector module (but the package's face) and the units it imports."""
    return {
        module_name(path): connector_imports(path)
        for path in sorted(ROOT_PACKAGE.rglob("*.py"))
        if path != ROOT_PACKAGE / "__init__.py"
    }


def test_every_unit_has_a_floor() -> None:
    placed = {unit for floor in FLOORS for unit in floor}
    assert {unit_of(module) for module in the_house()} == placed


def test_no_import_runs_up_a_floor_or_across_one() -> None:
    floor_of = {unit: height for height, floor in enumerate(FLOORS) for unit in floor}
    wrong = sorted(
        f"{module} -> {imported}"
        for module, imports in the_house().items()
        for imported in imports
        if imported != unit_of(module) and floor_of[imported] <= floor_of[unit_of(module)]
    )
    assert wrong == []


def file_imports(path: Path, files: set[str]) -> set[str]:
    """The connector files a file imports: `from package import module` names the module's file,
    `from module import name` the module's."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in files else node.module)
    return found & files


def test_the_files_import_each_other_in_no_circle() -> None:
    """Within the units too: no file reaches itself through the imports of others."""
    paths = {
        module_name(path): path
        for path in sorted(ROOT_PACKAGE.rglob("*.py"))
        if path != ROOT_PACKAGE / "__init__.py"
    }
    edges = {module: file_imports(path, set(paths)) - {module} for module, path in paths.items()}
    seen: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(module: str, path: list[str]) -> list[str] | None:
        seen[module] = 1
        for following in sorted(edges[module]):
            if seen.get(following) == 1:
                return [*path, module, following]
            if following not in seen and (circle := walk(following, [*path, module])):
                return circle
        seen[module] = 2
        return None

    circles = [c for module in sorted(paths) if module not in seen and (c := walk(module, []))]
    assert circles == []


def test_config_imports_no_part() -> None:
    """The ground floor: settings know nothing of what they configure."""
    assert connector_imports(ROOT_PACKAGE / "config.py") == {"connector.errors"}


@pytest.mark.parametrize("stage", ["transform", "sink"])
def test_a_stages_rules_know_no_other_stage(stage: str) -> None:
    imported = set().union(*(connector_imports(p) for p in (ROOT_PACKAGE / stage).rglob("*.py")))
    assert imported - {f"connector.{stage}"} <= {
        "connector.config",
        "connector.errors",
        "connector.models",
    }


def test_confluent_kafka_is_imported_only_under_kafka() -> None:
    """What ruff's TID251 holds, checked on every file (the native bridge's three may skip it)."""

    def imports_kafka(path: Path) -> bool:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] == "confluent_kafka" for name in names):
                return True
        return False

    importers = sorted(
        str(path.relative_to(ROOT)) for path in ROOT_PACKAGE.rglob("*.py") if imports_kafka(path)
    )
    assert importers
    assert [name for name in importers if not name.startswith("connector/kafka/")] == []


def test_connector_keeps_a_dozen_modules_flat_and_the_pipeline_short() -> None:
    flat = sorted(p.name for p in ROOT_PACKAGE.glob("*.py"))
    assert len(flat) <= 12, flat
    lines = (ROOT_PACKAGE / "pipeline.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 300
