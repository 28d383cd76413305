"""The compiled per-record modules (mypyc, connector/process/compiled.py) against their Python
sources.

The tests run on the compiled build (`make test` builds it first), and a subprocess with
SPOTIFY_CAPI_PURE_PYTHON=1 runs the sources on the same corpus (tests/support/differential.py):
every decoded event, Ready payload byte, warning, rejection, skip and delivery result must be
the same. The specialised Avro reader, compiled, is also held to fastavro's answer.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

import fastavro
import pytest

from connector.config import DecodeSettings, RoutingSettings
from connector.models import SourceCoordinates
from connector.prepare.preparer import Preparer
from connector.prepare.reader import read_tracking_event
from connector.process import compiled as _compiled
from connector.schemas import avro
from tests.support import differential

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDS = cache(differential.records)
NOT_BUILT = "the compiled modules are missing or stale: `make setup` builds them"


def run_python(code: str, *, pure: bool) -> str:
    env = {**os.environ, _compiled.PURE_ENV: "1" if pure else ""}
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout


@cache
def pure_outputs() -> dict[str, Any]:
    output = run_python(
        "import json, sys; from tests.support import differential; "
        "json.dump(differential.everything(), sys.stdout)",
        pure=True,
    )
    result: dict[str, Any] = json.loads(output)
    return result


@cache
def compiled_outputs() -> dict[str, Any]:
    # Through JSON as the pure side is, so that both compare as the same kinds of values.
    result: dict[str, Any] = json.loads(json.dumps(differential.everything()))
    return result


def test_this_process_runs_the_compiled_build() -> None:
    assert _compiled.stale_modules() == [], NOT_BUILT
    for name in _compiled.MODULES:
        module = import_module(name)
        assert module.__spec__ is not None
        origin = module.__spec__.origin or ""
        assert origin.endswith(".so"), f"{name} from {origin}: {NOT_BUILT}"
    assert _compiled.compiled()


def test_the_switch_imports_the_python_sources() -> None:
    code = (
        "import json, importlib; from connector.process import compiled; print(json.dumps("
        "[importlib.import_module(m).__spec__.origin for m in compiled.MODULES]))"
    )
    pure = json.loads(run_python(code, pure=True))
    built = json.loads(run_python(code, pure=False))
    sources = [str(path) for path in _compiled.source_paths()]
    assert pure == sources
    assert [origin.endswith(".so") for origin in built] == [True] * len(_compiled.MODULES)
    assert [Path(o).name.split(".")[0] for o in built] == [Path(s).stem for s in sources]


@pytest.mark.parametrize("part", ["prepared", "decoded", "transformed", "results"])
def test_compiled_and_pure_agree_on_every_record(part: str) -> None:
    compiled, pure = compiled_outputs(), pure_outputs()
    assert (compiled["compiled"], pure["compiled"]) == (True, False)
    assert len(compiled[part]) == len(pure[part]) > 400
    differences = [
        (n, mine, theirs)
        for n, (mine, theirs) in enumerate(zip(compiled[part], pure[part], strict=True))
        if mine != theirs
    ]
    assert differences[:3] == []


def test_the_corpus_reaches_every_kind_of_outcome() -> None:
    kinds = {outcome[0] for outcome in compiled_outputs()["prepared"]}
    assert kinds == {"ready", "undecodable", "rejected", "skipped"}
    reasons = {o[1][0] for o in compiled_outputs()["prepared"] if o[0] == "rejected"}
    assert len(reasons) > 5
    assert "transform_error" not in reasons  # the transform's net for its own bugs never caught


def test_every_outcome_crosses_to_another_process_intact() -> None:
    """Prepare workers send their outcomes back pickled; compiled classes must survive it."""
    preparer = Preparer(DecodeSettings(), differential.transform_settings(), RoutingSettings())
    records = [(value, SourceCoordinates("t", 0, n)) for n, value in enumerate(RECORDS())]
    outcomes = preparer.prepare(records, differential.NOW_MS)
    assert {type(o).__name__ for o in outcomes} == {"Ready", "Undecodable", "Rejected", "Skipped"}
    assert pickle.loads(pickle.dumps(outcomes)) == outcomes  # noqa: S301 - our own bytes


def test_the_compiled_reader_returns_what_fastavro_returns() -> None:
    reading = avro.bundled_reading_schema(avro.TRACKING_EVENT)
    compared = 0
    for payload in RECORDS():
        try:
            expected = fastavro.schemaless_reader(io.BytesIO(payload), reading, reading)
        except Exception:  # noqa: S112 - fastavro refuses it: nothing to compare
            continue
        try:
            found = read_tracking_event(payload)
        except (ValueError, IndexError, EOFError, UnicodeDecodeError):
            continue  # stricter than fastavro on some damage (tests/unit/test_tracking_reader.py)
        assert repr(found) == repr(expected)
        compared += 1
    assert compared > 4000


def test_an_extension_older_than_its_source_is_stale(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("")
    module = "connector.transform.phone"
    source = _compiled.source_path(module, tmp_path)
    source.parent.mkdir(parents=True)
    source.write_text("")
    extension = source.with_name("phone.cpython-311-x86_64-linux-gnu.so")
    extension.write_bytes(b"")
    now = time.time()
    os.utime(source, (now, now))
    os.utime(extension, (now + 1, now + 1))
    assert _compiled.stale_modules(tmp_path) == []
    os.utime(source, (now + 2, now + 2))  # edited after the build
    assert _compiled.stale_modules(tmp_path) == [module]
    (tmp_path / "setup.py").unlink()  # an installed wheel: built whole, never checked
    assert _compiled.stale_modules(tmp_path) == []


def test_a_stale_build_loads_the_sources_with_a_warning(tmp_path: Path) -> None:
    """A copy of the checkout whose phone.py was edited after the build: the whole set is then
    imported from source, and the process says so."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    (copy / "setup.py").write_text("")
    shutil.copytree(REPO_ROOT / "connector", copy / "connector")
    (copy / "connector" / "transform" / "phone.py").touch()
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "import connector, importlib, json\n"
        "from connector.process import compiled as _compiled\n"
        "print(json.dumps([importlib.import_module(m).__spec__.origin "
        "for m in _compiled.MODULES]))"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(copy), _compiled.PURE_ENV: ""},
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    origins = json.loads(done.stdout)
    assert all(origin.endswith(".py") for origin in origins)
    assert "StaleBuildWarning" in done.stderr
    assert "connector.transform.phone" in done.stderr
