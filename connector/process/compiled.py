"""The modules compiled with mypyc, and the switch back to their Python sources.

One list for the build (setup.py), the Makefile's rebuild stamp and the tests. The compiled
modules are the per-record ones: decoding, the transform, the core types. Their Python sources
stay the reference: `SPOTIFY_CAPI_PURE_PYTHON=1` imports the `.py` files even when the compiled
extensions sit beside them (tests/unit/test_compiled.py compares the two).

In a source checkout an extension older than its source is stale (`make setup` rebuilds it):
the whole set is then imported from source, with a warning, so an edit is never shadowed by an
old binary. The set goes together or not at all: compiled modules call each other directly,
not through `sys.modules`. This module is never compiled itself: `connector/__init__.py` runs it
before anything of the set is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PURE_ENV = "SPOTIFY_CAPI_PURE_PYTHON"
# The shared library mypyc builds for the set: connector/_mypyc__mypyc.<abi>.so ("native" is the
# Rust prepare path's word: connector/prepare/native.py)
GROUP = "connector._mypyc"

MODULES: tuple[str, ...] = (
    "connector.models",
    "connector.offsets",
    "connector.results.codec",
    "connector.results.event_ids",
    "connector.prepare.reader",
    "connector.prepare.plan_reader",
    "connector.prepare.decode",
    "connector.prepare.routing",
    "connector.results.delivery",
    "connector.transform.allowed_fields",
    "connector.transform.consent",
    "connector.transform.emails",
    "connector.transform.event_id",
    "connector.transform.event_names",
    "connector.transform.event_time",
    "connector.transform.hashing",
    "connector.transform.identifiers",
    "connector.transform.mapping",
    "connector.transform.normalize",
    "connector.transform.phone",
    "connector.transform.problems",
    "connector.transform.taxonomy",
    "connector.transform.transformer",
    "connector.transform.user_data",
)

_ROOT = Path(__file__).resolve().parents[2]  # holds the `connector` package


class StaleBuildWarning(UserWarning):
    """A compiled module is older than its source: the sources are used instead."""


def source_path(module: str, root: Path = _ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_paths(root: Path = _ROOT) -> list[Path]:
    return [source_path(module, root) for module in MODULES]


def extension_path(module: str, root: Path = _ROOT) -> Path | None:
    """The compiled extension of `module` beside its source, if one was built."""
    source = source_path(module, root)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def stale_modules(root: Path = _ROOT) -> list[str]:
    """In a source checkout (setup.py beside the package), the modules whose extension is older
    than their source. An installed wheel is built whole, so it is never checked."""
    if not (root / "setup.py").exists():
        return []
    stale = []
    for module in MODULES:
        extension = extension_path(module, root)
        if (
            extension is not None
            and extension.stat().st_mtime < source_path(module, root).stat().st_mtime
        ):
            stale.append(module)
    return stale


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled set's modules as their `.py` sources, ahead of the extensions."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


def install() -> None:
    """Import the set from source when asked to (PURE_ENV) or when a build is stale."""
    if any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        return
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        sys.meta_path.insert(0, _SourceFinder())
        return
    stale = stale_modules()
    if stale:
        warnings.warn(
            f"compiled modules older than their source ({', '.join(stale)}): using the Python "
            "sources; `make setup` rebuilds them",
            StaleBuildWarning,
            stacklevel=2,
        )
        sys.meta_path.insert(0, _SourceFinder())


def compiled() -> bool:
    """Whether the set runs compiled in this process (imports one of its modules)."""
    import connector.models as probe  # the ground floor: a probe that imports nothing above

    origin = probe.__spec__.origin if probe.__spec__ is not None else None
    return not (origin or "").endswith(".py")


def describe() -> str:
    """Which build of the set runs, and why, for `check-config`."""
    if compiled():
        return "per-record modules compiled (mypyc)"
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return f"per-record modules from their Python sources ({PURE_ENV}=1)"
    if stale_modules():
        return "per-record modules from their Python sources (the compiled build is stale)"
    return "per-record modules from their Python sources (not compiled)"


if __name__ == "__main__":  # the Makefile's list of sources: `python connector/process/compiled.py`
    print(" ".join(str(path.relative_to(_ROOT)) for path in source_paths()))
