"""The PrometheusRule: rendered by helm, checked and unit-tested by `promtool` (rules-test.yaml)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm import FULL_VALUES, REPO_ROOT, Chart, Rendered, container, require_tool

pytestmark = pytest.mark.chart

RULES_TEST = Path(__file__).parent / "rules" / "rules-test.yaml"
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
RUNBOOK_BASE = (
    "https://github.com/spotify-capi-connector/spotify-capi-connector/blob/main/docs/operations.md"
)
# Alert -> the `cause` label Alertmanager groups by.
CAUSES = {
    "SpotifyCapiNoDeliveryProgress": "delivery",
    "SpotifyCapiDeliverySuccessLow": "delivery",
    "SpotifyCapiDeadLetterRatioHigh": "delivery",
    "SpotifyCapiThrottled": "spotify_errors",
    "SpotifyCapiServerErrors": "spotify_errors",
    "SpotifyCapiTokenRefused": "spotify_auth",
    "SpotifyCapiBrokerUnreachable": "kafka",
    "SpotifyCapiResultWriteFailed": "kafka",
    "SpotifyCapiCommitsFailing": "commits",
    "SpotifyCapiRestarting": "restarts",
    "SpotifyCapiMetricsAbsent": "scrape",
    "SpotifyCapiNoReadyReplica": "readiness",
    "SpotifyCapiConsumerLagHigh": "capacity",
    "SpotifyCapiDeliveryLatencySlo": "capacity",
    # With reconcile.enabled (ci/full-values.yaml), in a group of their own.
    "SpotifyCapiReconcileGap": "reconcile",
    "SpotifyCapiReconcileFailing": "reconcile",
}
ALERTS = set(CAUSES)


@pytest.fixture(scope="module")
def promtool() -> Path:
    return require_tool("promtool")


def rule_groups(rendered: Rendered) -> list[dict[str, object]]:
    rule = rendered.one("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    groups: list[dict[str, object]] = rule["spec"]["groups"]
    return groups


def alert_names(rendered: Rendered) -> set[str]:
    return {r["alert"] for g in rule_groups(rendered) for r in g["rules"]}  # type: ignore[attr-defined]


def test_rules_ship_only_when_enabled(default_render: Rendered, full_render: Rendered) -> None:
    assert "PrometheusRule" not in default_render.kinds()
    assert alert_names(full_render) == ALERTS
    labels = full_render.one("PrometheusRule")["metadata"]["labels"]
    assert labels["release"] == "prometheus"


def rules_by_alert(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rule_groups(rendered) for r in g["rules"]}  # type: ignore[attr-defined]


def test_extra_rules_are_appended_and_thresholds_reach_the_rules(chart: Chart) -> None:
    extra = {"alert": "Mine", "expr": "vector(1)", "labels": {"severity": "info"}}
    values = {
        "prometheusRule": {
            "enabled": True,
            "lagThreshold": 42,
            "latencySlo": {"seconds": 300, "target": 0.999},
            "minRequestsPerSecond": 3,
            "deliverySuccess": {"ratio": 0.75, "window": "1h", "minEvents": 500},
            "commitsFailingFor": "20m",
            "restarts": {"threshold": 5, "window": "1h"},
            "extraRules": [extra],
        }
    }
    rules = rules_by_alert(chart.render(values))
    assert rules["Mine"] == extra
    assert "> 42\n" in rules["SpotifyCapiConsumerLagHigh"]["expr"]
    slo = rules["SpotifyCapiDeliveryLatencySlo"]["expr"]
    assert 'le=~"300(\\\\.0)?"' in slo  # 300 and, from Prometheus 3, 300.0
    assert slo.strip().endswith("> 0.001")  # the error budget, 1 - target
    for alert in ("SpotifyCapiThrottled", "SpotifyCapiServerErrors"):
        assert rules[alert]["expr"].strip().endswith("[5m])) > 3"), alert
    success = rules["SpotifyCapiDeliverySuccessLow"]["expr"]
    assert "< 0.75\n" in success
    assert success.strip().endswith(">= 500")
    assert "[1h]" in success
    assert "[30m]" not in success
    commits = rules["SpotifyCapiCommitsFailing"]
    assert commits["expr"].count("[20m]") == 2
    assert commits["annotations"]["summary"].endswith("for 20m")
    restarts = rules["SpotifyCapiRestarting"]["expr"]
    assert "[1h])) > 5" in restarts


@pytest.mark.parametrize(
    ("seconds", "matcher", "scraped", "others"),
    [
        # Prometheus 2 scrapes the bound as "60", Prometheus 3 as "60.0".
        (60, 'le=~"60(\\\\.0)?"', ["60", "60.0"], ["600", "160", "60x0", "60.05"]),
        (86400, 'le=~"86400(\\\\.0)?"', ["86400", "86400.0"], ["864000", "86400.00"]),
        # A fraction is written alike by both: it matches itself only.
        (2.5, 'le=~"2\\\\.5"', ["2.5"], ["2x5", "2.50", "12.5"]),
        (0.05, 'le=~"0\\\\.05"', ["0.05"], ["0x05", "0.050"]),
    ],
)
def test_the_latency_bucket_matcher_holds_on_prometheus_2_and_3(
    chart: Chart, seconds: float, matcher: str, scraped: list[str], others: list[str]
) -> None:
    values = {"prometheusRule": {"enabled": True, "latencySlo": {"seconds": seconds}}}
    slo = rules_by_alert(chart.render(values))["SpotifyCapiDeliveryLatencySlo"]["expr"]
    assert matcher in slo
    (pattern,) = re.findall(r'le=~"([^"]+)"', slo)
    regex = re.compile(pattern.replace("\\\\", "\\"))  # PromQL's string escape, then RE2's
    assert [le for le in scraped + others if regex.fullmatch(le)] == scraped


def test_the_restart_alert_reads_the_connector_container_of_this_release(
    full_render: Rendered,
) -> None:
    expr = rules_by_alert(full_render)["SpotifyCapiRestarting"]["expr"]
    assert (
        'kube_pod_container_status_restarts_total{namespace="conversions",'
        'pod=~"capi-spotify-capi-connector-[a-z0-9]+-[a-z0-9]+",container="connector"}'
    ) in expr
    assert container(full_render)["name"] == "connector"


def test_a_slo_off_the_latency_buckets_fails_the_schema(chart: Chart) -> None:
    error = chart.render_error({"prometheusRule": {"enabled": True, "latencySlo": {"seconds": 45}}})
    assert "/prometheusRule/latencySlo/seconds" in error


def test_promtool_checks_and_unit_tests_the_rendered_rules(
    promtool: Path, full_render: Rendered, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(full_render)}), encoding="utf-8")
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    checked = _run(promtool, "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout + checked.stderr
    tested = _run(promtool, "test", "rules", str(tmp_path / RULES_TEST.name))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:
    firing = {
        case["alertname"]
        for test in rules_tests()
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert firing == ALERTS


def test_a_refused_token_pages_once() -> None:
    """The scenario lists every alert at the same time and expects only the token's."""
    (test,) = [t for t in rules_tests() if t["name"] == "a refused token for 30 minutes pages once"]
    cases = test["alert_rule_test"]
    assert {case["eval_time"] for case in cases} == {"36m"}
    assert {case["alertname"] for case in cases} == ALERTS
    assert [case["alertname"] for case in cases if case["exp_alerts"]] == [
        "SpotifyCapiTokenRefused"
    ]
    assert len(cases) == len(ALERTS)


def test_the_latency_objective_is_tested_with_both_bucket_spellings() -> None:
    fed = {
        series["series"].split('le="')[1].split('"')[0]
        for test in rules_tests()
        if any(c["alertname"] == "SpotifyCapiDeliveryLatencySlo" for c in test["alert_rule_test"])
        for series in test["input_series"]
        if "_bucket{" in series["series"]
    }
    assert {"60", "60.0"} <= fed


def test_every_alert_has_a_cause_a_severity_and_a_runbook_heading(full_render: Rendered) -> None:
    anchors = runbook_anchors()
    for alert, rule in rules_by_alert(full_render).items():
        assert rule["labels"]["cause"] == CAUSES[alert], alert
        assert rule["labels"]["severity"] in {"critical", "warning"}, alert
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert base == RUNBOOK_BASE, alert
        assert anchor in anchors, f"{alert}: no Runbook heading for #{anchor}"


def test_the_runbook_base_url_is_a_value(chart: Chart) -> None:
    base = "https://wiki.example.com/spotify-capi"
    values = {"prometheusRule": {"enabled": True, "runbookBaseUrl": base}}
    rendered = chart.render(values, FULL_VALUES)  # every alert, the reconcile ones too
    urls = {r["annotations"]["runbook_url"] for r in rules_by_alert(rendered).values()}
    assert {url.partition("#")[0] for url in urls} == {base}
    assert len(urls) == len(ALERTS)  # an entry of its own for each


def test_github_anchors_follow_its_rule() -> None:
    assert github_anchor("Token refused") == "token-refused"
    assert github_anchor("Did yesterday's purchases reach Spotify?") == (
        "did-yesterdays-purchases-reach-spotify"
    )
    assert github_anchor("The connector exits 1 on its own") == "the-connector-exits-1-on-its-own"
    assert github_anchor("A result or dead-letter record refused") == (
        "a-result-or-dead-letter-record-refused"
    )


def rules_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))["tests"]
    return tests


def runbook_anchors() -> set[str]:
    """Anchors of the headings under docs/operations.md's `## Runbook`."""
    runbook = OPERATIONS.read_text(encoding="utf-8").split("\n## Runbook\n", 1)[1]
    runbook = runbook.split("\n## ", 1)[0]
    return {github_anchor(line[4:]) for line in runbook.splitlines() if line.startswith("### ")}


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower-case, punctuation dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own promtool binary, fixed arguments
        [str(promtool), *args], capture_output=True, text=True, timeout=120, check=False
    )
