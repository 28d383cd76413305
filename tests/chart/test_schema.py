"""values.schema.json: a bad value fails `helm template` and `helm lint`, naming the value."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import Chart, HelmFailed, config_yaml, container

pytestmark = pytest.mark.chart


@pytest.mark.parametrize(
    ("values", "names"),
    [
        # Secrets have no place in config.yaml: the schema refuses them there.
        ({"config": {"spotify": {"token": "abc"}}}, ["/config/spotify", "token"]),
        ({"config": {"spotify": {"connection_id": "abc"}}}, ["/config/spotify", "connection_id"]),
        ({"config": {"kafka": {"sasl_password": "abc"}}}, ["/config/kafka", "sasl_password"]),
        ({"config": {"kafka": {"ssl_key_password": "abc"}}}, ["/config/kafka", "ssl_key_password"]),
        (
            {"config": {"decode": {"schema_registry_basic_auth": "u:p"}}},
            ["/config/decode", "schema_registry_basic_auth"],
        ),
        (
            {"config": {"kafka": {"client_properties": {"sasl.password": "abc"}}}},
            ["invalid propertyName 'sasl.password'"],
        ),
        # A secret as a plain env value (a secretKeyRef or a *_FILE path is fine)
        ({"extraEnv": [{"name": "SPOTIFY_CAPI_TOKEN", "value": "abc"}]}, ["/extraEnv/0"]),
        ({"extraEnv": [{"name": "KAFKA_SASL_PASSWORD", "value": "abc"}]}, ["/extraEnv/0"]),
        # Typos and wrong types
        ({"config": {"sink": {"batchsize": 10}}}, ["/config/sink", "batchsize"]),
        ({"config": {"sink": {"batch_size": 5000}}}, ["/config/sink/batch_size"]),
        ({"config": {"kafka": {"security_protocol": "TLS"}}}, ["/config/kafka/security_protocol"]),
        (
            {"config": {"transform": {"event_name_mapping": {"Order": "BUY"}}}},
            ["/config/transform/event_name_mapping"],
        ),
        ({"config": {"telemetry": {"health_port": 0}}}, ["/config/telemetry/health_port"]),
        ({"replicaCount": "two"}, ["/replicaCount"]),
        (
            {"config": {"pipeline": {"prepare_processes": "all"}}},
            ["/config/pipeline/prepare_processes"],
        ),
        ({"replicas": 2}, ["replicas"]),
        ({"image": {"pullPolicy": "Sometimes"}}, ["/image/pullPolicy"]),
        ({"keda": {"enabled": True, "lagThreshold": 0}}, ["/keda/lagThreshold"]),
        # Alert thresholds: a share is 0-1, a window a duration, the runbook a URL without anchor.
        (
            {"prometheusRule": {"deliverySuccess": {"ratio": 1.5}}},
            ["/prometheusRule/deliverySuccess/ratio"],
        ),
        (
            {"prometheusRule": {"restarts": {"window": "30 minutes"}}},
            ["/prometheusRule/restarts/window"],
        ),
        ({"prometheusRule": {"commitsFailingFor": "15"}}, ["/prometheusRule/commitsFailingFor"]),
        (
            {"prometheusRule": {"runbookBaseUrl": "https://wiki.example.com/ops#lag"}},
            ["/prometheusRule/runbookBaseUrl"],
        ),
        (
            {"prometheusRule": {"minRequestsPerSecond": -1}},
            ["/prometheusRule/minRequestsPerSecond"],
        ),
    ],
)
def test_schema_violation_fails_the_render(
    chart: Chart, values: dict[str, Any], names: list[str]
) -> None:
    error = chart.render_error(values)
    assert "values don't meet the specifications of the schema" in error
    for name in names:
        assert name in error


def test_schema_violation_fails_lint(chart: Chart) -> None:
    with pytest.raises(HelmFailed) as failed:
        chart.lint({"config": {"spotify": {"token": "abc"}}})
    assert "token" in failed.value.stderr
    assert "1 chart(s) failed" in failed.value.stderr


def test_documented_values_pass_the_schema(chart: Chart) -> None:
    # The other side of the coin: valid, non-default values render.
    rendered = chart.render(
        {
            "config": {
                "kafka": {"client_properties": {"client.rack": "a"}},
                "pipeline": {"prepare_processes": "auto"},
            },
            "podDisruptionBudget": {"maxUnavailable": "50%"},
            "extraEnv": [
                {"name": "SPOTIFY_CAPI_TOKEN_FILE", "value": "/run/token"},
                {
                    "name": "KAFKA_SASL_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "kafka", "key": "password"}},
                },
            ],
        }
    )
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
    assert config_yaml(rendered)["pipeline"]["prepare_processes"] == "auto"
    env_names = [env["name"] for env in container(rendered)["env"]]
    assert env_names == ["SPOTIFY_CAPI_TOKEN_FILE", "KAFKA_SASL_PASSWORD"]
