"""The PrometheusRule: rendered by helm, checked and unit-tested by `promtool` (rules-test.yaml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.helm import Chart, Rendered, require_tool

pytestmark = pytest.mark.chart

RULES_TEST = Path(__file__).parent / "rules" / "rules-test.yaml"
ALERTS = {
    "SpotifyCapiNoDeliveryProgress",
    "SpotifyCapiDeadLetterRatioHigh",
    "SpotifyCapiThrottled",
    "SpotifyCapiServerErrors",
    "SpotifyCapiTokenRefused",
    "SpotifyCapiBrokerUnreachable",
    "SpotifyCapiResultWriteFailed",
    "SpotifyCapiMetricsAbsent",
    "SpotifyCapiNoReadyReplica",
    "SpotifyCapiConsumerLagHigh",
    "SpotifyCapiDeliveryLatencySlo",
}


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


def test_extra_rules_are_appended_and_thresholds_reach_the_rules(chart: Chart) -> None:
    extra = {"alert": "Mine", "expr": "vector(1)", "labels": {"severity": "info"}}
    values = {
        "prometheusRule": {
            "enabled": True,
            "lagThreshold": 42,
            "latencySlo": {"seconds": 300, "target": 0.999},
            "extraRules": [extra],
        }
    }
    rules = {r["alert"]: r for g in rule_groups(chart.render(values)) for r in g["rules"]}  # type: ignore[attr-defined]
    assert rules["Mine"] == extra
    assert rules["SpotifyCapiConsumerLagHigh"]["expr"].strip().endswith("> 42")
    slo = rules["SpotifyCapiDeliveryLatencySlo"]["expr"]
    assert 'le="300"' in slo
    assert slo.strip().endswith("> 0.001")  # the error budget, 1 - target


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
    tests = yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert firing == ALERTS


def _run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own promtool binary, fixed arguments
        [str(promtool), *args], capture_output=True, text=True, timeout=120, check=False
    )
