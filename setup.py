"""Builds the wheel with the per-record modules compiled by mypyc (connector/_compiled.py lists
them); the metadata is pyproject.toml's. `CAPI_PURE_PYTHON_BUILD=1` builds without compiling:
the editable install of `make setup`, which then compiles in place (`build_ext --inplace`)."""

from __future__ import annotations

import os
import runpy

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """An in-place build marks every extension as new, even one the compiler had no reason to
    re-link: an extension older than its source is taken for stale (`_compiled.stale_modules`)."""

    def run(self) -> None:
        super().run()
        if self.inplace:
            for extension in self.extensions:
                os.utime(self.get_ext_fullpath(extension.name))


def compiled_extensions() -> list[Extension]:
    if os.environ.get("CAPI_PURE_PYTHON_BUILD", "") not in ("", "0"):
        return []
    from mypyc.build import mypycify

    compiled = runpy.run_path("connector/_compiled.py")  # read, not imported: no side effects
    root = compiled["_ROOT"]
    return mypycify(
        [str(path.relative_to(root)) for path in compiled["source_paths"](root)],
        group_name=compiled["GROUP"],
        opt_level="3",
    )


setup(ext_modules=compiled_extensions(), cmdclass={"build_ext": BuildExt})
