"""Builds the wheel with the per-record modules compiled by mypyc (connector/process/compiled.py
lists them) and the Rust prepare fast path (native/, PyO3, built by setuptools-rust as
`connector.prepare._native`); the metadata is pyproject.toml's. `CAPI_PURE_PYTHON_BUILD=1` builds
no compiled code at all: the editable install of `make setup`, which then builds both in place
(`build_rust --inplace` for the Rust extension, `build_ext --inplace` for mypyc's, which also
rebuilds the Rust one: setuptools-rust hooks build_ext)."""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """An in-place build marks every extension as new, even one the compiler had no reason to
    re-link: an extension older than its source is taken for stale (`compiled.stale_modules`)."""

    def run(self) -> None:
        super().run()
        if self.inplace:
            for extension in self.extensions:
                os.utime(self.get_ext_fullpath(extension.name))


def pure_build() -> bool:
    return os.environ.get("CAPI_PURE_PYTHON_BUILD", "") not in ("", "0")


def rust_only() -> bool:
    """`setup.py build_rust ...` alone (the Makefile's in-place Rust build) needs no mypyc
    extension: mypycify type-checks the whole set first (~20 s), for nothing."""
    commands = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    return commands == ["build_rust"]


def compiled_extensions() -> list[Extension]:
    if pure_build() or rust_only():
        return []
    from mypyc.build import mypycify

    # Read, not imported: no side effects.
    compiled = runpy.run_path("connector/process/compiled.py")
    root = compiled["_ROOT"]
    return mypycify(
        [str(path.relative_to(root)) for path in compiled["source_paths"](root)],
        group_name=compiled["GROUP"],
        opt_level="3",
    )


def rust_extensions() -> dict[str, Any]:
    """setup()'s `rust_extensions` keyword (setuptools-rust's), absent from a pure build."""
    if pure_build():
        return {}
    from setuptools_rust import Binding, RustExtension

    # debug=False: a release build in place too (setuptools-rust's default there is debug).
    extension = RustExtension(
        "connector.prepare._native", path="native/Cargo.toml", binding=Binding.PyO3, debug=False
    )
    return {"rust_extensions": [extension]}


setup(ext_modules=compiled_extensions(), cmdclass={"build_ext": BuildExt}, **rust_extensions())
