"""The chart's README is what helm-docs writes from the comments in values.yaml."""

from __future__ import annotations

import subprocess

import pytest

from tests.chart.helm import CHART_DIR, REPO_ROOT, require_tool

pytestmark = pytest.mark.chart


def test_chart_readme_is_generated_from_the_values_comments() -> None:
    helm_docs = require_tool("helm-docs")
    # The same flags as `make chart-readme`; --dry-run prints instead of writing.
    generated = subprocess.run(  # noqa: S603 - our own helm-docs binary, fixed arguments
        [
            str(helm_docs), "--chart-search-root", str(REPO_ROOT / "helm"),
            "--sort-values-order", "file", "--skip-version-footer", "--dry-run",
            "--log-level", "error",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    readme = (CHART_DIR / "README.md").read_text(encoding="utf-8")
    assert generated.stdout.strip() == readme.strip(), "run `make chart-readme`"
    for value in ("prometheusRule.enabled", "grafanaDashboard.enabled", "helmTest.enabled"):
        assert f"| {value} |" in readme
