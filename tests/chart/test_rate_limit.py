"""A release-wide request-rate cap: each pod gets its share, and the connector reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.assemble import load_settings, sink_settings
from tests.chart.helm import Chart, config_yaml

pytestmark = pytest.mark.chart


def rendered_caps(chart: Chart, values: dict[str, Any]) -> tuple[object, object]:
    config = config_yaml(chart.render(values))
    connections = config.get("spotify", {}).get("connections", {})
    return (
        config["sink"].get("max_requests_per_second"),
        {name: c["max_requests_per_second"] for name, c in connections.items()},
    )


@pytest.mark.parametrize(
    ("scaling", "pods"),
    [
        ({"replicaCount": 3}, 3),
        ({"replicaCount": 3, "keda": {"enabled": True, "maxReplicas": 4}}, 4),
        ({"autoscaling": {"enabled": True, "maxReplicas": 8}}, 8),
        ({"replicaCount": 0}, 1),  # scaled to nothing: a pod started by hand takes it all
    ],
    ids=["replicas", "keda", "hpa", "zero-replicas"],
)
def test_each_pod_gets_the_total_divided_by_the_most_pods_that_can_run(
    chart: Chart, scaling: dict[str, object], pods: int
) -> None:
    values = {**scaling, "rateLimit": {"totalRequestsPerSecond": 120, "connections": {"eu": 24}}}
    assert rendered_caps(chart, values) == (round(120 / pods, 3), {"eu": round(24 / pods, 3)})


def test_without_a_release_cap_the_pods_setting_stands(chart: Chart) -> None:
    assert rendered_caps(chart, {}) == (None, {})
    per_pod = {"config": {"sink": {"max_requests_per_second": 7.5}}}
    assert rendered_caps(chart, per_pod) == (7.5, {})


def test_a_release_cap_and_a_pod_cap_together_are_refused(chart: Chart) -> None:
    error = chart.render_error(
        {
            "rateLimit": {"totalRequestsPerSecond": 50},
            "config": {"sink": {"max_requests_per_second": 5}},
        }
    )
    assert "set one" in error


def test_a_non_positive_total_fails_the_schema(chart: Chart) -> None:
    error = chart.render_error({"rateLimit": {"totalRequestsPerSecond": 0}})
    assert "totalRequestsPerSecond" in error


def test_the_connector_reads_the_pods_share(
    chart: Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {
        "replicaCount": 4,
        "rateLimit": {"totalRequestsPerSecond": 100, "connections": {"eu": 8}},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_yaml(chart.render(values))), encoding="utf-8")
    monkeypatch.setenv("SPOTIFY_CAPI_EU_TOKEN", "t")
    monkeypatch.setenv("SPOTIFY_CAPI_EU_CONNECTION_ID", "c")
    settings = load_settings(config)
    assert sink_settings(settings, "default").max_requests_per_second == 25
    assert sink_settings(settings, "eu").max_requests_per_second == 2
