"""Assertions on the rendered Deployment: probes, hardening, grace period, roll-on-change."""

from __future__ import annotations

import inspect

import pytest

from connector.kafka.admin import check_topics
from tests.chart.helm import Chart, Rendered, container

pytestmark = pytest.mark.chart


def pod_spec(rendered: Rendered) -> dict[str, object]:
    spec: dict[str, object] = rendered.one("Deployment")["spec"]["template"]["spec"]
    return spec


def test_probes_hit_health_paths_on_the_health_port(default_render: Rendered) -> None:
    main = container(default_render)
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["startupProbe"]["httpGet"] == {"path": "/startupz", "port": "http"}


def test_startup_probe_window_is_the_values_and_outlasts_the_topic_check(chart: Chart) -> None:
    """A pod that does not reach running within failureThreshold x periodSeconds is restarted;
    by default that window is longer than the topic check at start may take."""
    default = container(chart.render())["startupProbe"]
    assert default["failureThreshold"] * default["periodSeconds"] == 60
    topic_check_s = inspect.signature(check_topics).parameters["timeout_s"].default
    assert default["failureThreshold"] * default["periodSeconds"] > topic_check_s
    values = {"startupProbe": {"failureThreshold": 45, "periodSeconds": 4, "timeoutSeconds": 2}}
    probe = container(chart.render(values))["startupProbe"]
    assert probe == {
        "httpGet": {"path": "/startupz", "port": "http"},
        "failureThreshold": 45,
        "periodSeconds": 4,
        "timeoutSeconds": 2,
    }


def test_health_port_follows_the_telemetry_setting(full_render: Rendered) -> None:
    main = container(full_render)
    assert main["ports"][0]["containerPort"] == 9090
    service_port = full_render.one("Service")["spec"]["ports"][0]
    assert service_port["targetPort"] == "http"
    ingress = full_render.one("NetworkPolicy")["spec"]["ingress"]
    assert ingress[0]["ports"] == [{"port": 9090, "protocol": "TCP"}]


def test_runs_the_run_command_with_the_mounted_config(default_render: Rendered) -> None:
    main = container(default_render)
    assert main["args"] == ["run", "--config", "/etc/spotify-capi-connector/config.yaml"]
    assert "command" not in main  # the image's ENTRYPOINT is the CLI
    mount = next(m for m in main["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == "/etc/spotify-capi-connector/config.yaml"
    assert mount["subPath"] == "config.yaml"


def test_pod_and_container_are_hardened(default_render: Rendered) -> None:
    context = container(default_render)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert isinstance(context["runAsUser"], int)
    assert context["runAsUser"] > 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = pod_spec(default_render)
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False


def test_tmp_is_the_only_writable_path(default_render: Rendered) -> None:
    main = container(default_render)
    writable = [m["mountPath"] for m in main["volumeMounts"] if not m.get("readOnly")]
    assert writable == ["/tmp"]
    volumes = {v["name"]: v for v in pod_spec(default_render)["volumes"]}  # type: ignore[attr-defined]
    assert volumes["tmp"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}


def test_resources_have_defaults(default_render: Rendered) -> None:
    assert container(default_render)["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }


@pytest.mark.parametrize(
    ("drain_timeout_s", "expected_grace"),
    [(None, 45), (30, 45), (0, 15), (12.5, 28), (120, 135)],
)
def test_grace_period_outlasts_the_drain(
    chart: Chart, drain_timeout_s: float | None, expected_grace: int
) -> None:
    values = (
        None
        if drain_timeout_s is None
        else {"config": {"pipeline": {"drain_timeout_s": drain_timeout_s}}}
    )
    grace = pod_spec(chart.render(values))["terminationGracePeriodSeconds"]
    assert grace == expected_grace
    assert isinstance(grace, int)
    assert grace > (30 if drain_timeout_s is None else drain_timeout_s)


def test_the_revoke_timeout_does_not_lengthen_the_grace_period(chart: Chart) -> None:
    """The drain timeout bounds the whole stop, the revoke wait included."""
    pipeline = {"drain_timeout_s": 10, "revoke_timeout_s": 60}
    grace = pod_spec(chart.render({"config": {"pipeline": pipeline}}))[
        "terminationGracePeriodSeconds"
    ]
    assert grace == 25


def checksums(rendered: Rendered) -> tuple[str, str]:
    annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    return annotations["checksum/config"], annotations["checksum/secret"]


def test_a_config_change_changes_only_the_config_checksum(chart: Chart) -> None:
    before = checksums(chart.render({"secrets": {"spotifyToken": "t1"}}))
    after = checksums(
        chart.render({"secrets": {"spotifyToken": "t1"}, "config": {"sink": {"batch_size": 250}}})
    )
    assert after[0] != before[0]
    assert after[1] == before[1]


def test_a_secret_change_changes_only_the_secret_checksum(chart: Chart) -> None:
    before = checksums(chart.render({"secrets": {"spotifyToken": "t1"}}))
    after = checksums(chart.render({"secrets": {"spotifyToken": "t2"}}))
    assert after[0] == before[0]
    assert after[1] != before[1]


def test_replicas_are_left_to_the_autoscaler(chart: Chart, default_render: Rendered) -> None:
    assert default_render.one("Deployment")["spec"]["replicas"] == 1
    hpa_render = chart.render({"autoscaling": {"enabled": True}})
    assert "replicas" not in hpa_render.one("Deployment")["spec"]
    hpa = hpa_render.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "capi-spotify-capi-connector"
    assert hpa["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    keda_render = chart.render({"keda": {"enabled": True}})
    assert "replicas" not in keda_render.one("Deployment")["spec"]
    assert "HorizontalPodAutoscaler" not in keda_render.kinds()


def test_hpa_and_keda_together_fail_clearly(chart: Chart) -> None:
    error = chart.render_error({"autoscaling": {"enabled": True}, "keda": {"enabled": True}})
    assert "autoscaling.enabled and keda.enabled are mutually exclusive" in error


def test_topology_spread_gets_the_pod_selector(default_render: Rendered) -> None:
    assert pod_spec(default_render)["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "spotify-capi-connector",
                    "app.kubernetes.io/instance": "capi",
                }
            },
        }
    ]


def test_image_defaults_to_app_version_and_digest_wins(
    chart: Chart, default_render: Rendered
) -> None:
    assert container(default_render)["image"] == "spotify-capi-connector:0.1.0"
    digest = "sha256:" + "ab" * 32
    pinned = chart.render({"image": {"repository": "r.example/c", "tag": "9", "digest": digest}})
    assert container(pinned)["image"] == f"r.example/c@{digest}"


def test_network_policy_allows_dns_kafka_and_https_only(chart: Chart) -> None:
    policy = chart.render({"networkPolicy": {"enabled": True}}).one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    assert policy["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"ports": [{"port": 9092, "protocol": "TCP"}, {"port": 9093, "protocol": "TCP"}]},
        {"ports": [{"port": 443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
    ]


def test_pdb_limits_voluntary_disruption(default_render: Rendered) -> None:
    pdb = default_render.one("PodDisruptionBudget")["spec"]
    assert pdb == {
        "maxUnavailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": "spotify-capi-connector",
                "app.kubernetes.io/instance": "capi",
            }
        },
    }


def test_pdb_never_blocks_a_drain_of_not_ready_pods(default_render: Rendered) -> None:
    # Every replica is NotReady while Spotify refuses the token: they must stay evictable.
    pdb = default_render.one("PodDisruptionBudget")["spec"]
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_rollouts_wait_for_a_pod_to_stay_ready(chart: Chart, default_render: Rendered) -> None:
    assert default_render.one("Deployment")["spec"]["minReadySeconds"] == 10
    rendered = chart.render({"minReadySeconds": 45})
    assert rendered.one("Deployment")["spec"]["minReadySeconds"] == 45


def test_deployment_annotations_let_a_reloader_roll_on_secret_rotation(
    full_render: Rendered, default_render: Rendered
) -> None:
    deployment = full_render.one("Deployment")
    assert deployment["metadata"]["annotations"] == {
        "secret.reloader.stakater.com/reload": "spotify-capi-connector-credentials"
    }
    assert "annotations" not in default_render.one("Deployment")["metadata"]


def test_keda_excludes_persistent_lag_and_extra_metadata_replaces_defaults(chart: Chart) -> None:
    rendered = chart.render(
        {
            "keda": {
                "enabled": True,
                "excludePersistentLag": False,
                "extraTriggerMetadata": {"allowIdleConsumers": "true", "tls": "enable"},
            }
        }
    )
    spec = rendered.one("ScaledObject")["spec"]
    metadata = spec["triggers"][0]["metadata"]
    assert (metadata["allowIdleConsumers"], metadata["tls"]) == ("true", "enable")
    assert metadata["excludePersistentLag"] == "false"
    assert rendered.text.count("allowIdleConsumers:") == 1
    assert "fallback" not in spec
    assert "advanced" not in spec
    default = chart.render({"keda": {"enabled": True}}).one("ScaledObject")["spec"]
    assert default["triggers"][0]["metadata"]["excludePersistentLag"] == "true"
