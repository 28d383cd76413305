"""The metric names the chart's dashboard and alert rules query (shared by the chart tests and
the scrape test in tests/integration/test_ops_metrics.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.chart.helm import CHART_DIR, REPO_ROOT, Rendered

DASHBOARD = CHART_DIR / "dashboards" / "spotify-capi-connector.json"
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
# Series from Prometheus itself and kube-state-metrics, not from the connector.
EXTERNAL = frozenset(
    {
        "up",
        "kube_deployment_status_replicas_ready",
        "kube_deployment_spec_replicas",
        "kube_pod_container_status_restarts_total",
    }
)
# Connector series that exist only once their occasion came: a consent rule dropped an event,
# Spotify refused a field, the rate cap held a batch, a periodic reconciliation ran (only with
# ads_api.reconcile_interval_s, the chart's reconcile.enabled). The scrape test's run has none of
# these occasions; tests/unit/test_telemetry.py asserts each of these names on /metrics' registry.
ON_OCCASION = frozenset(
    {
        "spotify_capi_events_skipped_total",
        "spotify_capi_fields_removed_total",
        "spotify_capi_fields_stripped_total",
        "spotify_capi_rate_limit_wait_seconds_total",
        "spotify_capi_reconcile_gap_ratio",
        "spotify_capi_reconcile_delivered",
        "spotify_capi_reconcile_counted",
        "spotify_capi_reconcile_runs_total",
        "spotify_capi_reconcile_last_success_seconds",
    }
)
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_HISTOGRAM_SERIES = re.compile(r"_(bucket|count|sum)$")


def metric_names(expr: str) -> set[str]:
    """Names of the vector selectors of a PromQL expression (every one of ours has `{...}`)."""
    return set(_SELECTOR.findall(expr))


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


def rule_exprs(rendered: Rendered) -> list[str]:
    rule = rendered.one("PrometheusRule")
    return [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]


def queried_metrics(exprs: list[str]) -> set[str]:
    """Every metric these expressions read, the connector's and others'."""
    return {name for expr in exprs for name in metric_names(expr)}


def connector_metrics(exprs: list[str]) -> set[str]:
    """What a running connector must expose for these expressions to find data."""
    return queried_metrics(exprs) - EXTERNAL - ON_OCCASION


def documented_labels() -> dict[str, str]:
    """Prometheus name (`process_*` for a family) -> its labels cell, from the table of
    docs/operations.md's Metrics section."""
    section = OPERATIONS.read_text(encoding="utf-8").split("\n## Metrics\n", 1)[1]
    found: dict[str, str] = {}
    for line in section.split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 5:
            for name in re.findall(r"`([a-z_*]+)`", cells[1]):
                found[name] = cells[3]
    return found


def documented_as(name: str, documented: dict[str, str]) -> str | None:
    """The documented metric a series belongs to: itself, its histogram, or its family."""
    histogram = _HISTOGRAM_SERIES.sub("", name)
    for candidate in (name, histogram):
        if candidate in documented:
            return candidate
    families = [f for f in documented if f.endswith("*") and name.startswith(f[:-1])]
    return families[0] if families else None
