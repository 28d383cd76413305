"""`helm test`: a Pod runs check-config with exactly the Deployment's config, secrets and files."""

from __future__ import annotations

import pytest

from tests.chart.helm import Chart, Manifest, Rendered, container

pytestmark = pytest.mark.chart


def the_test_pod(rendered: Rendered) -> Manifest:
    (pod,) = rendered.all("Pod")
    return pod


def test_check_config_runs_as_a_helm_test_hook(full_render: Rendered) -> None:
    pod = the_test_pod(full_render)
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (check,) = pod["spec"]["containers"]
    assert check["args"] == ["check-config", "--config", "/etc/spotify-capi-connector/config.yaml"]
    assert check["image"] == container(full_render)["image"]


def test_the_test_pod_sees_the_deployment_s_config_secrets_and_files(full_render: Rendered) -> None:
    pod = the_test_pod(full_render)
    (check,) = pod["spec"]["containers"]
    connector = container(full_render)
    deployment_pod = full_render.one("Deployment")["spec"]["template"]["spec"]
    assert check["env"] == connector["env"]
    assert check["volumeMounts"] == connector["volumeMounts"]
    assert pod["spec"]["volumes"] == deployment_pod["volumes"]
    assert check["securityContext"] == connector["securityContext"]
    assert pod["spec"]["securityContext"] == deployment_pod["securityContext"]
    assert pod["spec"]["serviceAccountName"] == deployment_pod["serviceAccountName"]
    names = {v["name"] for v in pod["spec"]["volumes"]}
    assert {"config", "secrets", "kafka-tls"} <= names


def test_the_test_pod_can_be_left_out(chart: Chart) -> None:
    assert chart.render({"helmTest": {"enabled": False}}).all("Pod") == []
