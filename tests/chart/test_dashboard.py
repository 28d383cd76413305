"""The Grafana dashboard ConfigMap: off by default, labelled for the sidecar, a sound dashboard."""

from __future__ import annotations

import json

import pytest

from tests.chart.helm import REPO_ROOT, Chart, Rendered, container
from tests.chart.shipped_metrics import (
    DASHBOARD,
    EXTERNAL,
    ON_OCCASION,
    dashboard,
    dashboard_exprs,
    documented_as,
    documented_labels,
    metric_names,
    queried_metrics,
    rule_exprs,
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


# The release's pods as kube-state-metrics names them: the job is the Service, named like the
# Deployment, whose pods are <deployment>-<replica set hash>-<suffix>.
RELEASE_PODS = 'namespace="$namespace",pod=~"$job-[a-z0-9]+-[a-z0-9]+",pod=~"$pod"'


def test_every_panel_queries_the_chosen_data_source_namespace_job_pod_and_connection() -> None:
    board = dashboard()
    assert board["uid"] == "spotify-capi-connector"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    documented = documented_labels()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for name in metric_names(target["expr"]):
                selector = target["expr"].split(f"{name}{{", 1)[1].split("}", 1)[0]
                if name in EXTERNAL:
                    assert selector.startswith(RELEASE_PODS), name
                    continue
                assert selector.startswith('namespace="$namespace",job="$job",pod=~"$pod"'), name
                metric = documented_as(name, documented)
                assert metric is not None, f"{name}: not in docs/operations.md's Metrics table"
                labels = documented[metric]
                # Series labelled by connection follow the connection variable; no other does.
                by_connection = 'connection=~"$connection"' in selector
                assert by_connection == ("`connection`" in labels), name


def test_pod_and_connection_variables_come_from_the_connectors_own_series() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert list(variables) == ["datasource", "namespace", "job", "pod", "connection"]
    assert variables["pod"]["query"]["query"] == (
        'label_values(spotify_capi_partitions_assigned{namespace="$namespace",job="$job"}, pod)'
    )
    assert variables["connection"]["query"]["query"] == (
        'label_values(spotify_capi_auth_failing{namespace="$namespace",job="$job"}, connection)'
    )
    for name in ("pod", "connection"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        # All means any: a pod gone within the time range still shows.
        assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (
            True,
            True,
            ".*",
        )


def panel_queries() -> dict[str, list[tuple[str, str]]]:
    """Panel title -> its (expression, legend) pairs."""
    return {
        p["title"]: [(t["expr"], t["legendFormat"]) for t in p["targets"]]
        for p in dashboard()["panels"]
        if p["type"] != "row"
    }


POD = '{namespace="$namespace",job="$job",pod=~"$pod"}'
POD_CONNECTION = '{namespace="$namespace",job="$job",pod=~"$pod",connection=~"$connection"}'


@pytest.mark.parametrize(
    ("title", "queries"),
    [
        (
            "Commits and refused commits / s",
            [
                (
                    f"sum(rate(spotify_capi_commits_total{POD}[$__rate_interval]))",
                    "offsets committed",
                ),
                (
                    "sum by (pod) "
                    f"(rate(spotify_capi_commit_failures_total{POD}[$__rate_interval]))",
                    "refused {{pod}}",
                ),
            ],
        ),
        (
            "Consent skips / s by reason",
            [
                (
                    "sum by (spotify_capi_reason) "
                    f"(rate(spotify_capi_events_skipped_total{POD}[$__rate_interval]))",
                    "{{spotify_capi_reason}}",
                )
            ],
        ),
        (
            "Fields removed and stripped / s by field",
            [
                (
                    "sum by (connection, spotify_capi_field) "
                    f"(rate(spotify_capi_fields_{kind}_total{POD_CONNECTION}[$__rate_interval]))",
                    f"{kind} {{{{connection}}}} {{{{spotify_capi_field}}}}",
                )
                for kind in ("removed", "stripped")
            ],
        ),
        (
            "Event delay (event time to Spotify's acknowledgement)",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate("
                    f"spotify_capi_event_delivery_delay_seconds_bucket{POD}[$__rate_interval])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.9, 0.99)
            ],
        ),
        (
            "CPU (cores) by pod",
            [
                (
                    f"sum by (pod) (rate(process_cpu_seconds_total{POD}[$__rate_interval]))",
                    "{{pod}}",
                )
            ],
        ),
        (
            "Resident memory by pod",
            [(f"sum by (pod) (process_resident_memory_bytes{POD})", "{{pod}}")],
        ),
        (
            "Container restarts by pod (kube-state-metrics)",
            [
                (
                    "sum by (pod) (increase(kube_pod_container_status_restarts_total"
                    f'{{{RELEASE_PODS},container="connector"}}[$__rate_interval]))',
                    "{{pod}}",
                )
            ],
        ),
        (
            "Seconds waited for the rate cap, per second",
            [
                (
                    "sum by (connection) "
                    f"(rate(spotify_capi_rate_limit_wait_seconds_total{POD_CONNECTION}"
                    "[$__rate_interval]))",
                    "{{connection}}",
                )
            ],
        ),
        (
            "Reconcile gap by connection and event name",
            [
                (
                    "max by (connection, spotify_capi_event_name) "
                    f"(spotify_capi_reconcile_gap_ratio{POD_CONNECTION})",
                    "{{connection}} {{spotify_capi_event_name}}",
                )
            ],
        ),
        (
            "Delivered and counted by Spotify in the last reconcile window",
            [
                (
                    "max by (connection, spotify_capi_event_name) "
                    f"(spotify_capi_reconcile_{kind}{POD_CONNECTION})",
                    f"{kind} {{{{connection}}}} {{{{spotify_capi_event_name}}}}",
                )
                for kind in ("delivered", "counted")
            ],
        ),
        (
            "Seconds since the last successful reconciliation",
            [
                (
                    f"time() - max(spotify_capi_reconcile_last_success_seconds{POD})",
                    "since the last successful reconciliation",
                )
            ],
        ),
    ],
)
def test_dashboard_panels_for_commits_consent_fields_delay_and_pods(
    title: str, queries: list[tuple[str, str]]
) -> None:
    assert panel_queries()[title] == queries


def test_restarts_panel_reads_the_container_the_deployment_runs(default_render: Rendered) -> None:
    (restarts,) = panel_queries()["Container restarts by pod (kube-state-metrics)"]
    assert f'container="{container(default_render)["name"]}"' in restarts[0]


def test_every_queried_metric_is_documented_and_exported_or_external(full_render: Rendered) -> None:
    """Each name the dashboard and the rules read is in docs/operations.md's Metrics table (or
    comes from Prometheus or kube-state-metrics); those of the scrape test's run aside, each is
    asserted by the telemetry unit tests."""
    documented = documented_labels()
    queried = queried_metrics(dashboard_exprs(dashboard()) + rule_exprs(full_render))
    undocumented = {name for name in queried if documented_as(name, documented) is None}
    assert undocumented == set(EXTERNAL)
    assert queried >= ON_OCCASION
    unit_tests = (REPO_ROOT / "tests" / "unit" / "test_telemetry.py").read_text(encoding="utf-8")
    assert {name for name in ON_OCCASION if f'"{name}"' not in unit_tests} == set()


def test_dashboard_shows_what_an_sre_looks_for() -> None:
    names = queried_metrics(dashboard_exprs(dashboard()))
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
        "spotify_capi_commit_failures_total",
        "spotify_capi_events_skipped_total",
        "spotify_capi_fields_removed_total",
        "spotify_capi_fields_stripped_total",
        "spotify_capi_event_delivery_delay_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "kube_pod_container_status_restarts_total",
        "spotify_capi_reconcile_gap_ratio",
        "spotify_capi_reconcile_delivered",
        "spotify_capi_reconcile_counted",
        "spotify_capi_reconcile_last_success_seconds",
    } <= names
    assert DASHBOARD.name == "spotify-capi-connector.json"
