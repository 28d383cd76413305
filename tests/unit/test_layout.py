"""The Kafka boundary holds: ruff refuses `confluent_kafka` outside connector/kafka/."""

from __future__ import annotations

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
