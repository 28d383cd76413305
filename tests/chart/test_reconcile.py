"""Reconciliation with Spotify's dataset diagnostics: the Ads API account (`adsApi`, its secrets in
`secrets`), the periodic run in the pods and its alerts (`reconcile`).

Off by default nothing of it renders; on, config.yaml carries ads_api, the two Ads API secrets
reach the pod as mounted files only, and the PrometheusRule gets a group of its own. Enabling it
without the account fails the render, naming what is missing. The alerts' behaviour is unit-tested
by promtool (rules/rules-test.yaml, on ci/full-values.yaml).
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from connector.assemble import load_settings
from connector.config import WELL_KNOWN_ENV
from tests.chart.helm import (
    CHART_DIR,
    FULL_VALUES,
    KUBE_VERSION,
    Chart,
    Manifest,
    Rendered,
    config_yaml,
    container,
    require_tool,
)
from tests.chart.test_settings_reach import play_pod

pytestmark = pytest.mark.chart

RECONCILE_VALUES = CHART_DIR / "ci" / "reconcile-values.yaml"
SECRETS_DIR = "/etc/spotify-capi-connector/secrets"
GROUP = "spotify-capi-connector-reconcile"
ALERTS = ["SpotifyCapiReconcileGap", "SpotifyCapiReconcileFailing"]
# The least that turns it on: the account of the connection named `default`.
ACCOUNT: dict[str, Any] = {
    "adsApi": {"clientId": "client-1", "businessId": "business-1", "datasetId": "dataset-1"},
    "secrets": {
        "spotifyToken": "t",
        "spotifyConnectionId": "c",
        "spotifyAdsClientSecret": "canary-ads-secret-4e1b",
        "spotifyAdsRefreshToken": "canary-ads-refresh-92c7",
    },
}
ON = {**ACCOUNT, "reconcile": {"enabled": True}, "prometheusRule": {"enabled": True}}


@pytest.fixture(scope="module")
def reconcile_render(chart: Chart) -> Rendered:
    return chart.render(None, RECONCILE_VALUES)


def env_of(rendered: Rendered) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(rendered).get("env", [])}


def secret_items(rendered: Rendered) -> list[str]:
    volumes = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    found = [v for v in volumes if v["name"] == "secrets"]
    return [item["key"] for item in found[0]["secret"]["items"]] if found else []


def groups(rendered: Rendered) -> dict[str, list[dict[str, Any]]]:
    rule = rendered.one("PrometheusRule")
    return {g["name"]: g["rules"] for g in rule["spec"]["groups"]}


def reconcile_rules(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in groups(rendered)[GROUP]}


def test_off_by_default_renders_nothing_new(chart: Chart, default_render: Rendered) -> None:
    assert "ads_api" not in config_yaml(default_render)
    assert "ADS" not in repr(container(default_render))
    rendered = chart.render({"prometheusRule": {"enabled": True}})
    assert list(groups(rendered)) == ["spotify-capi-connector"]
    assert "reconcile" not in rendered.one("PrometheusRule")["spec"]["groups"][0]["name"]
    assert "spotify_capi_reconcile" not in rendered.text


def test_the_account_reaches_the_pods_without_periodic_runs(chart: Chart) -> None:
    """Set but not enabled: `kubectl exec ... reconcile` works; nothing runs by itself."""
    rendered = chart.render({**ACCOUNT, "prometheusRule": {"enabled": True}})
    assert config_yaml(rendered)["ads_api"] == {
        "client_id": "client-1",
        "business_id": "business-1",
        "dataset_id": "dataset-1",
        "processing_delay_s": 1200,
    }
    env = env_of(rendered)
    assert env["SPOTIFY_ADS_CLIENT_SECRET_FILE"] == f"{SECRETS_DIR}/spotify-ads-client-secret"
    assert env["SPOTIFY_ADS_REFRESH_TOKEN_FILE"] == f"{SECRETS_DIR}/spotify-ads-refresh-token"
    assert list(groups(rendered)) == ["spotify-capi-connector"]


def test_enabled_renders_the_settings_into_config_yaml(reconcile_render: Rendered) -> None:
    ads = config_yaml(reconcile_render)["ads_api"]
    assert ads == {
        "client_id": "5c1d0a7e9b4f4e2a8d3c6b1a0f9e8d7c",
        "business_id": "3f2b6c1e-8a4d-4b7e-9c0f-1d2e3a4b5c6d",
        "dataset_id": "7a9e2c4b-1f3d-4e6a-8b0c-2d4f6a8c0e1b",
        "connections": {
            "globex": {
                "dataset_id": "0b8d6f4a-2c1e-4f3a-9d5b-7e6c8a0f2d4e",
                "business_id": "6e5d4c3b-2a19-4807-b6c5-d4e3f2a1b0c9",
            }
        },
        "processing_delay_s": 3600,
        "reconcile_interval_s": 1800,
        "reconcile_window_h": 48,
        "request_timeout_s": 20,  # config.ads_api's own fields pass through
        "max_attempts": 3,
    }


def test_the_ads_api_secrets_are_mounted_files_only(reconcile_render: Rendered) -> None:
    canaries = {
        "spotify-ads-client-secret": "ci-ads-client-secret",
        "spotify-ads-refresh-token": "ci-ads-refresh-token",
    }
    data = reconcile_render.one("Secret")["data"]
    for key, canary in canaries.items():
        assert base64.b64decode(data[key]).decode() == canary
        assert canary not in reconcile_render.text  # the Secret holds base64
        encoded = base64.b64encode(canary.encode()).decode()
        holders = [obj["kind"] for obj in reconcile_render.objects if encoded in repr(obj)]
        assert holders == ["Secret"], canary
    env = env_of(reconcile_render)
    assert {name: env[name] for name in env if name.startswith("SPOTIFY_ADS_")} == {
        "SPOTIFY_ADS_CLIENT_SECRET_FILE": f"{SECRETS_DIR}/spotify-ads-client-secret",
        "SPOTIFY_ADS_REFRESH_TOKEN_FILE": f"{SECRETS_DIR}/spotify-ads-refresh-token",
    }
    assert {"spotify-ads-client-secret", "spotify-ads-refresh-token"} <= set(
        secret_items(reconcile_render)
    )


def test_an_existing_secret_holds_them_under_its_own_keys_and_rolls_the_pods(
    chart: Chart,
) -> None:
    keys = {"spotifyAdsClientSecret": "ads-secret", "spotifyAdsRefreshToken": "ads-refresh"}
    values = {
        "adsApi": ACCOUNT["adsApi"],
        "reconcile": {"enabled": True},
        "secrets": {"existingSecret": {"name": "managed", "keys": keys}},
    }
    rendered = chart.render(values)
    assert "Secret" not in rendered.kinds()
    env = env_of(rendered)
    assert env["SPOTIFY_ADS_CLIENT_SECRET_FILE"] == f"{SECRETS_DIR}/ads-secret"
    assert env["SPOTIFY_ADS_REFRESH_TOKEN_FILE"] == f"{SECRETS_DIR}/ads-refresh"
    assert secret_items(rendered)[-2:] == ["ads-secret", "ads-refresh"]
    pod = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/existing-secret" in pod  # the Secret's contents at install and upgrade


def test_existing_secret_keys_default_to_none_so_existing_secrets_keep_working(
    chart: Chart,
) -> None:
    rendered = chart.render({"secrets": {"existingSecret": {"name": "managed"}}})
    assert secret_items(rendered) == ["spotify-capi-token", "spotify-capi-connection-id"]


def test_inline_ads_secrets_beside_an_existing_secret_fail(chart: Chart) -> None:
    error = chart.render_error(
        {"secrets": {"spotifyAdsRefreshToken": "r", "existingSecret": {"name": "managed"}}}
    )
    assert "leave the inline secrets.* values empty" in error


def test_the_pod_loads_what_reconcile_needs(
    reconcile_render: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connector's own check (what `reconcile` and the periodic run refuse without) finds
    nothing missing in what the chart accepted."""
    for name in list(os.environ):
        if name.startswith("CONNECTOR_") or name.removesuffix("_FILE") in WELL_KNOWN_ENV:
            monkeypatch.delenv(name)
    settings = load_settings(play_pod(reconcile_render, tmp_path, monkeypatch))
    ads = settings.ads_api
    connections = list(settings.spotify_connections())
    assert connections == ["default", "globex"]
    assert ads.missing(connections) == []
    assert ads.client_secret is not None
    assert ads.client_secret.get_secret_value() == "ci-ads-client-secret"
    assert ads.refresh_token is not None
    assert ads.refresh_token.get_secret_value() == "ci-ads-refresh-token"
    assert (ads.reconcile_interval_s, ads.reconcile_window_h, ads.processing_delay_s) == (
        1800,
        48,
        3600,
    )
    assert ads.where("globex") == (
        "6e5d4c3b-2a19-4807-b6c5-d4e3f2a1b0c9",
        "0b8d6f4a-2c1e-4f3a-9d5b-7e6c8a0f2d4e",
    )


MISSING_ALL = (
    "reconcile.enabled needs Spotify's Ads API account, which reads the dataset diagnostics; set "
    "adsApi.clientId, secrets.spotifyAdsClientSecret (or secrets.existingSecret), "
    "secrets.spotifyAdsRefreshToken (or secrets.existingSecret), "
    "adsApi.datasetId (the dataset of connection default), adsApi.businessId."
)


@pytest.mark.parametrize(
    ("values", "messages"),
    [
        ({"reconcile": {"enabled": True}}, [MISSING_ALL]),
        (
            {**ACCOUNT, "adsApi": {"clientId": "c", "businessId": "b"}},
            ["set adsApi.datasetId (the dataset of connection default)."],
        ),
        (
            {**ACCOUNT, "adsApi": {"businessId": "b", "datasetId": "d"}},
            ["set adsApi.clientId."],
        ),
        (
            {
                **ACCOUNT,
                "secrets": {"spotifyToken": "t", "spotifyAdsClientSecret": "s"},
            },
            ["set secrets.spotifyAdsRefreshToken (or secrets.existingSecret)."],
        ),
        (
            {
                "adsApi": ACCOUNT["adsApi"],
                "secrets": {"existingSecret": {"name": "managed"}},
            },
            [
                "set secrets.existingSecret.keys.spotifyAdsClientSecret (its key in Secret "
                "managed), secrets.existingSecret.keys.spotifyAdsRefreshToken (its key in "
                "Secret managed)."
            ],
        ),
        # A named connection is counted in its own dataset; its business may be the shared one.
        (
            {
                **ACCOUNT,
                "secrets": {
                    **ACCOUNT["secrets"],
                    "spotifyConnections": {"globex": {"token": "g", "connection_id": "gc"}},
                },
            },
            ["set adsApi.connections.globex.datasetId."],
        ),
        (
            {
                "adsApi": {"clientId": "c", "connections": {"globex": {"datasetId": "gd"}}},
                "secrets": {
                    "spotifyAdsClientSecret": "s",
                    "spotifyAdsRefreshToken": "r",
                    "spotifyConnections": {"globex": {"token": "g", "connection_id": "gc"}},
                },
                "config": {"routing": {"default": None}},  # no `default` connection at all
            },
            ["set adsApi.connections.globex.businessId (or adsApi.businessId)."],
        ),
    ],
)
def test_enabled_without_the_account_fails_naming_what_is_missing(
    chart: Chart, values: dict[str, Any], messages: list[str]
) -> None:
    error = chart.render_error({**values, "reconcile": {"enabled": True}})
    for message in messages:
        assert message in error


def test_a_named_connection_of_an_existing_secret_needs_its_dataset(chart: Chart) -> None:
    connections = {"eu": {"token": "eu-jwt", "connection_id": "eu-id"}}
    keys = {
        "spotifyAdsClientSecret": "s",
        "spotifyAdsRefreshToken": "r",
        "spotifyConnections": connections,
    }
    values: dict[str, Any] = {
        "adsApi": ACCOUNT["adsApi"],
        "reconcile": {"enabled": True},
        "secrets": {"existingSecret": {"name": "managed", "keys": keys}},
    }
    assert "set adsApi.connections.eu.datasetId." in chart.render_error(values)
    values["adsApi"] = {**ACCOUNT["adsApi"], "connections": {"eu": {"datasetId": "eu-ds"}}}
    ads = config_yaml(chart.render(values))["ads_api"]
    assert ads["connections"] == {"eu": {"dataset_id": "eu-ds"}}  # business: ads_api's own


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"reconcile": {"enable": True}}, ["/reconcile", "enable"]),
        ({"reconcile": {"alert": {"threshold": 0.1}}}, ["/reconcile/alert", "threshold"]),
        ({"adsApi": {"clientSecret": "s"}}, ["/adsApi", "clientSecret"]),
        (
            {"adsApi": {"connections": {"globex": {"dataset_id": "d"}}}},
            ["/adsApi/connections/globex", "dataset_id"],
        ),
        ({"adsApi": {"connections": {"Globex": {"datasetId": "d"}}}}, ["/adsApi/connections"]),
        # The Ads API's secrets and chart-owned fields have no place in config.ads_api.
        ({"config": {"ads_api": {"client_secret": "s"}}}, ["/config/ads_api", "client_secret"]),
        ({"config": {"ads_api": {"refresh_token": "r"}}}, ["/config/ads_api", "refresh_token"]),
        ({"config": {"ads_api": {"client_id": "c"}}}, ["/config/ads_api", "client_id"]),
        (
            {"config": {"ads_api": {"reconcile_interval_s": 600}}},
            ["/config/ads_api", "reconcile_interval_s"],
        ),
        ({"config": {"ads_api": {"max_attempts": 0}}}, ["/config/ads_api/max_attempts"]),
        ({"secrets": {"existingSecret": {"keys": {"adsClientSecret": "k"}}}}, ["adsClientSecret"]),
        ({"reconcile": {"intervalSeconds": 30}}, ["/reconcile/intervalSeconds"]),
        ({"reconcile": {"intervalSeconds": 90.5}}, ["/reconcile/intervalSeconds"]),
        ({"reconcile": {"windowHours": 169}}, ["/reconcile/windowHours"]),
        ({"reconcile": {"processingDelaySeconds": -1}}, ["/reconcile/processingDelaySeconds"]),
        ({"reconcile": {"alert": {"gapThreshold": 1}}}, ["/reconcile/alert/gapThreshold"]),
        ({"reconcile": {"alert": {"for": "3 hours"}}}, ["/reconcile/alert/for"]),
        (
            {"reconcile": {"alert": {"minDeliveredEvents": 0}}},
            ["/reconcile/alert/minDeliveredEvents"],
        ),
        # A secret as a plain env value
        ({"extraEnv": [{"name": "SPOTIFY_ADS_REFRESH_TOKEN", "value": "r"}]}, ["/extraEnv/0"]),
        ({"extraEnv": [{"name": "SPOTIFY_ADS_CLIENT_SECRET", "value": "s"}]}, ["/extraEnv/0"]),
    ],
)
def test_the_schema_refuses_unknown_keys_and_bad_values(
    chart: Chart, values: dict[str, Any], names: list[str]
) -> None:
    error = chart.render_error(values)
    assert "values don't meet the specifications of the schema" in error
    for name in names:
        assert name in error


def test_enabled_adds_the_rule_group(chart: Chart, full_render: Rendered) -> None:
    assert list(groups(full_render)) == ["spotify-capi-connector", GROUP]
    assert list(reconcile_rules(full_render)) == ALERTS
    # Without prometheusRule.enabled there is no PrometheusRule to add it to.
    assert "PrometheusRule" not in chart.render({**ACCOUNT, "reconcile": {"enabled": True}}).kinds()


def test_the_default_alert_expressions(full_render: Rendered) -> None:
    rules = reconcile_rules(full_render)
    release = 'job="capi-spotify-capi-connector",namespace="conversions"'
    each = "max by (namespace, job, connection, spotify_capi_event_name)"
    gap = rules["SpotifyCapiReconcileGap"]
    assert gap["expr"] == (
        f"{each} (spotify_capi_reconcile_gap_ratio{{{release}}}) > 0.05\n"
        "and\n"
        f"{each} (spotify_capi_reconcile_delivered{{{release}}}) >= 100\n"
    )
    assert gap["for"] == "3h"
    failed, ok = (
        "sum by (namespace, job) "
        f'(increase(spotify_capi_reconcile_runs_total{{{release},outcome="{outcome}"}}[3h]))'
        for outcome in ("failed", "ok")
    )
    failing = rules["SpotifyCapiReconcileFailing"]
    assert failing["expr"] == (
        f"{failed} > 0\n"
        "unless on (namespace, job)\n"
        "(\n"
        f"  {ok} > 0\n"
        "  or\n"
        "  max by (namespace, job) "
        f"(spotify_capi_reconcile_last_success_seconds{{{release}}}) > time() - 10800\n"
        ")\n"
    )
    assert failing["for"] == "10m"
    for rule in rules.values():
        assert rule["labels"] == {"severity": "warning", "cause": "reconcile"}


def test_the_thresholds_reach_the_rules(reconcile_render: Rendered) -> None:
    rules = reconcile_rules(reconcile_render)
    gap = rules["SpotifyCapiReconcileGap"]
    assert "_gap_ratio{" in gap["expr"]
    assert ") > 0.1\n" in gap["expr"]
    assert gap["expr"].endswith(">= 500\n")
    assert gap["for"] == "6h"
    assert "over the last 48h of results" in gap["annotations"]["description"]
    assert "reconcile --since 48h" in gap["annotations"]["description"]
    failing = rules["SpotifyCapiReconcileFailing"]
    assert failing["expr"].count("[90m]") == 2  # 3 x 1800 s
    assert "> time() - 5400\n" in failing["expr"]
    assert failing["annotations"]["summary"].startswith(
        "No reconciliation with Spotify's dataset diagnostics succeeded for 90m"
    )


@pytest.mark.parametrize(
    ("seconds", "window"),
    [(3600, "3h"), (1800, "90m"), (100, "5m"), (70, "210s"), (86400, "72h")],
)
def test_the_failing_window_is_three_intervals(chart: Chart, seconds: int, window: str) -> None:
    values = {**ON, "reconcile": {"enabled": True, "intervalSeconds": seconds}}
    expr = reconcile_rules(chart.render(values))["SpotifyCapiReconcileFailing"]["expr"]
    assert expr.count(f"[{window}])") == 2
    assert f"> time() - {3 * seconds}\n" in expr


def test_promtool_checks_the_reconcile_rules_of_the_ci_values(
    reconcile_render: Rendered, tmp_path: Path
) -> None:
    promtool = require_tool("promtool")
    rules = tmp_path / "rules.yaml"
    spec = reconcile_render.one("PrometheusRule")["spec"]
    rules.write_text(yaml.safe_dump({"groups": spec["groups"]}), encoding="utf-8")
    checked = subprocess.run(  # noqa: S603 - our own promtool binary, fixed arguments
        [str(promtool), "check", "rules", str(rules)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 16 rules found" in checked.stdout + checked.stderr


def test_lint_passes_with_the_reconcile_ci_values(chart: Chart) -> None:
    assert "1 chart(s) linted, 0 chart(s) failed" in chart.lint(None, RECONCILE_VALUES)
    assert "1 chart(s) linted, 0 chart(s) failed" in chart.lint(None, FULL_VALUES)


def test_the_reconcile_ci_objects_are_valid_kubernetes(reconcile_render: Rendered) -> None:
    crds = {"PrometheusRule"}
    core: list[Manifest] = [o for o in reconcile_render.objects if o["kind"] not in crds]
    for obj in core:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    assert {o["kind"] for o in core} >= {"Deployment", "Secret", "ConfigMap", "Pod"}


def test_the_helm_test_pod_sees_the_same_ads_api_files(reconcile_render: Rendered) -> None:
    check = next(
        p for p in reconcile_render.all("Pod") if p["metadata"]["name"].endswith("-check-config")
    )
    assert check["spec"]["containers"][0]["env"] == container(reconcile_render)["env"]
