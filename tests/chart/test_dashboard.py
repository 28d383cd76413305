"""The Grafana dashboard ConfigMap: off by default, labelled for the sidecar, a sound dashboard."""

from __future__ import annotations

import json

import pytest

from tests.chart.helm import Chart, Rendered
from tests.chart.shipped_metrics import (
    DASHBOARD,
    connector_metrics,
    dashboard,
    dashboard_exprs,
    metric_names,
)

pytestmark = pytest.mark.chart


def dashboard_map(rendered: Rendered) -> dict[str, object]:
    (found,) = [
        c for c in rendered.all("ConfigMap") if c["metadata"]["name"].endswith("-dashboard")
    ]
    return found


def test_dashboard_ships_only_when_enabled(default_render: Rendered) -> None:
    assert [c["metadata"]["name"] for c in default_render.all("ConfigMap")] == [
        "capi-spotify-capi-connector"
    ]


def test_dashboard_configmap_carries_the_sidecar_label_and_the_file(full_render: Rendered) -> None:
    found = dashboard_map(full_render)
    metadata = found["metadata"]
    assert metadata["labels"]["grafana_dashboard"] == "1"  # type: ignore[index]
    assert metadata["annotations"] == {"grafana_folder": "Streaming"}  # type: ignore[index]
    data = found["data"]
    assert json.loads(data["spotify-capi-connector.json"]) == dashboard()  # type: ignore[index]


def test_dashboard_goes_to_the_sidecar_namespace_when_asked(chart: Chart) -> None:
    values = {"grafanaDashboard": {"enabled": True, "namespace": "monitoring"}}
    assert dashboard_map(chart.render(values))["metadata"]["namespace"] == "monitoring"  # type: ignore[index]


def test_every_panel_queries_the_chosen_data_source_namespace_and_job() -> None:
    board = dashboard()
    assert board["uid"] == "spotify-capi-connector"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for name in metric_names(target["expr"]):
                assert f'{name}{{namespace="$namespace",job="$job"' in target["expr"], name


def test_dashboard_shows_what_an_sre_looks_for() -> None:
    names = connector_metrics(dashboard_exprs(dashboard()))
    assert {
        "spotify_capi_events_delivered_total",
        "spotify_capi_events_rejected_total",
        "spotify_capi_events_dead_lettered_total",
        "spotify_capi_delivery_latency_seconds_bucket",
        "spotify_capi_consumer_lag",
        "spotify_capi_events_in_flight",
        "spotify_capi_http_responses_total",
        "http_client_request_duration_seconds_count",
        "spotify_capi_auth_failing",
        "spotify_capi_http_requests_in_flight",
        "spotify_capi_http_concurrency_limit",
        "spotify_capi_rebalances_total",
        "spotify_capi_commits_total",
        "spotify_capi_delivery_last_success_time_seconds",
        "spotify_capi_results_produce_errors_total",
    } <= names
    assert DASHBOARD.name == "spotify-capi-connector.json"
