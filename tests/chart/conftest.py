"""Fixtures for the chart tests: a helm binary (or a failure that says how to build it), renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.helm import FULL_VALUES, Chart, Rendered, find_helm


@pytest.fixture(scope="session")
def helm() -> Path:
    found = find_helm()
    if found is None:
        pytest.fail(
            "helm not found (neither .cache/bin/helm nor on PATH): "
            "run `bash scripts/install-helm.sh` to build it"
        )
    return found


@pytest.fixture(scope="session")
def chart(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Chart:
    return Chart(helm, tmp_path_factory.mktemp("chart-values"))


@pytest.fixture(scope="session")
def default_render(chart: Chart) -> Rendered:
    return chart.render()


@pytest.fixture(scope="session")
def full_render(chart: Chart) -> Rendered:
    return chart.render(None, FULL_VALUES)
