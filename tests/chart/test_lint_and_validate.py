"""helm lint, and the rendered objects against the Kubernetes 1.31 schemas (CRDs by shape)."""

from __future__ import annotations

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from tests.chart.helm import FULL_VALUES, KUBE_VERSION, Chart, Manifest, Rendered

pytestmark = pytest.mark.chart

CORE_KINDS = {
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
    "Pod",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "ServiceAccount",
}
CRD_KINDS = {"ServiceMonitor", "ScaledObject", "PrometheusRule"}


def test_lint_passes_with_default_values(chart: Chart) -> None:
    output = chart.lint()
    assert "1 chart(s) linted, 0 chart(s) failed" in output


def test_lint_passes_with_every_feature_on(chart: Chart) -> None:
    output = chart.lint(None, FULL_VALUES)
    assert "1 chart(s) linted, 0 chart(s) failed" in output


def test_default_render_holds_the_expected_objects(default_render: Rendered) -> None:
    assert sorted(obj["kind"] for obj in default_render.objects) == [
        "ConfigMap",
        "Deployment",
        "Pod",  # the `helm test` pod
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]  # no Secret: no secret value is set by default


def test_full_render_holds_every_optional_object(full_render: Rendered) -> None:
    assert full_render.kinds() == {
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "Pod",
        "PodDisruptionBudget",
        "PrometheusRule",
        "ScaledObject",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    }  # no Secret: the full values use an existing one


def validate_core(objects: list[Manifest], version: str = KUBE_VERSION) -> list[str]:
    """kubernetes-validate (strict: unknown fields fail) on every non-CRD object; returns kinds."""
    checked = []
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        assert obj["kind"] in CORE_KINDS, f"unexpected kind {obj['kind']}"
        kubernetes_validate.validate(obj, version, strict=True)
        checked.append(obj["kind"])
    return checked


def test_default_objects_are_valid_kubernetes_1_31(chart: Chart) -> None:
    rendered = chart.render({"secrets": {"spotifyToken": "t", "spotifyConnectionId": "c"}})
    assert len(validate_core(rendered.objects)) == 7


def test_full_objects_are_valid_kubernetes_1_31(full_render: Rendered) -> None:
    assert len(validate_core(full_render.objects)) == 8  # two ConfigMaps: config and dashboard


def test_full_objects_are_valid_for_the_newest_bundled_kubernetes(full_render: Rendered) -> None:
    newest: str = kubernetes_validate.utils.latest_version()
    assert tuple(int(part) for part in newest.split(".")[:2]) > (1, 31)
    assert len(validate_core(full_render.objects, newest)) == 8


def test_hpa_objects_are_valid_kubernetes_1_31(chart: Chart) -> None:
    rendered = chart.render({"autoscaling": {"enabled": True}})
    assert "HorizontalPodAutoscaler" in validate_core(rendered.objects)


def test_validator_rejects_an_invalid_object(default_render: Rendered) -> None:
    # The check above can fail: a misspelt field in a real rendered object is refused.
    service = default_render.one("Service")
    broken = {**service, "spec": {**service["spec"], "portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


def test_service_monitor_scrapes_the_service_metrics_port(full_render: Rendered) -> None:
    monitor = full_render.one("ServiceMonitor")
    service = full_render.one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["conversions"]}
    port_names = {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert "http" in port_names


def test_scaled_object_scales_the_deployment_on_group_lag(full_render: Rendered) -> None:
    scaled = full_render.one("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": full_render.one("Deployment")["metadata"]["name"],
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 12)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["authenticationRef"] == {"name": "kafka-trigger-auth"}
    assert trigger["metadata"] == {
        "bootstrapServers": "kafka-0.kafka:9093,kafka-1.kafka:9093",
        "consumerGroup": "spotify-capi-connector-prod",
        "topic": "tracking-events",
        "lagThreshold": "500",
        "activationLagThreshold": "0",
        "offsetResetPolicy": "earliest",
        "allowIdleConsumers": "false",
        "excludePersistentLag": "true",
        "limitToPartitionsWithLag": "true",
    }
    # allowIdleConsumers is given by the chart and again in the values: one key in the text.
    assert full_render.text.count("allowIdleConsumers:") == 1
    assert spec["fallback"] == {"failureThreshold": 5, "replicas": 2}
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 600,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
    }
    # KEDA takes trigger metadata as strings only.
    assert all(isinstance(value, str) for value in trigger["metadata"].values())
