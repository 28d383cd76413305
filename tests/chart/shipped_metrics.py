"""The metric names the chart's dashboard and alert rules query (shared by the chart tests and
the scrape test in tests/integration/test_ops_metrics.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.chart.helm import CHART_DIR, Rendered

DASHBOARD = CHART_DIR / "dashboards" / "spotify-capi-connector.json"
# Series from Prometheus itself and kube-state-metrics, not from the connector.
EXTERNAL = frozenset({"up", "kube_deployment_status_replicas_ready"})
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")


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


def connector_metrics(exprs: list[str]) -> set[str]:
    """What the connector must expose for these expressions to find data."""
    return {name for expr in exprs for name in metric_names(expr)} - EXTERNAL
