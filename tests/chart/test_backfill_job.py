"""The backfill Job: `backfill` once, with the Deployment's image, config, secrets and files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from tests.chart.helm import (
    CHART_DIR,
    FULL_VALUES,
    KUBE_VERSION,
    RELEASE,
    Chart,
    HelmFailed,
    Manifest,
    Rendered,
    container,
)
from tests.chart.test_lint_and_validate import CRD_KINDS

pytestmark = pytest.mark.chart

BACKFILL_VALUES = CHART_DIR / "ci" / "backfill-values.yaml"
CONFIG = "/etc/spotify-capi-connector/config.yaml"
FROM = "2026-11-27T00:00:00Z"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def backfill(**values: Any) -> dict[str, Any]:
    return {"backfill": {"enabled": True, "id": "nov-27", "from": FROM, **values}}


def the_job(rendered: Rendered) -> Manifest:
    return rendered.one("Job")


def job_pod(rendered: Rendered) -> Manifest:
    spec: Manifest = the_job(rendered)["spec"]["template"]["spec"]
    return spec


def job_container(rendered: Rendered) -> Manifest:
    containers: list[Manifest] = job_pod(rendered)["containers"]
    assert len(containers) == 1
    return containers[0]


def deployment_pod(rendered: Rendered) -> Manifest:
    spec: Manifest = rendered.one("Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def backfill_render(chart: Chart) -> Rendered:
    """The ci file (every backfill option, TLS, an existing Secret, extra env and volumes)."""
    return chart.render(None, BACKFILL_VALUES)


@pytest.fixture(scope="module")
def full_backfill_render(chart: Chart) -> Rendered:
    """Every optional feature of the chart, and the backfill on top."""
    return chart.render(None, FULL_VALUES, BACKFILL_VALUES)


def test_no_job_by_default(default_render: Rendered, full_render: Rendered) -> None:
    assert default_render.all("Job") == []
    assert full_render.all("Job") == []


def test_no_job_when_disabled_even_with_an_id(chart: Chart) -> None:
    values = backfill()
    values["backfill"]["enabled"] = False
    assert chart.render(values).all("Job") == []


def test_the_job_runs_backfill_from_and_id_with_the_mounted_config(chart: Chart) -> None:
    rendered = chart.render(backfill())
    main = job_container(rendered)
    assert main["args"] == ["backfill", "--from", FROM, "--id", "nov-27", "--config", CONFIG]
    assert "command" not in main  # the image's ENTRYPOINT is the CLI
    assert main["image"] == container(rendered)["image"]
    assert main["name"] == "backfill"
    name = the_job(rendered)["metadata"]["name"]
    assert name == f"{RELEASE}-spotify-capi-connector-backfill-nov-27"


def test_every_option_becomes_its_flag(backfill_render: Rendered) -> None:
    assert job_container(backfill_render)["args"] == [
        "backfill",
        "--from", "2026-11-27T00:00:00Z",
        "--to", "2026-11-28T00:00:00Z",
        "--topic", "tracking-events-eu",
        "--connection", "globex",
        "--max-requests-per-second", "10",
        "--dry-run",
        "--id", "2026-11-27.globex",
        "--config", CONFIG,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "flags"),
    [
        ({"to": "2026-11-28T12:00:00Z"}, ["--to", "2026-11-28T12:00:00Z"]),
        ({"from": "7d"}, []),  # an age: `from` as is (checked below)
        ({"topics": ["eu", "us"]}, ["--topic", "eu", "--topic", "us"]),
        ({"connection": "globex"}, ["--connection", "globex"]),
        ({"maxRequestsPerSecond": 2.5}, ["--max-requests-per-second", "2.5"]),
        # A whole number stays whole, however YAML typed it (never 1e+06).
        ({"maxRequestsPerSecond": 1_000_000}, ["--max-requests-per-second", "1000000"]),
        ({"maxRequestsPerSecond": 12.0}, ["--max-requests-per-second", "12"]),
        ({"dryRun": True}, ["--dry-run"]),
        ({"dryRun": False, "to": "", "topics": [], "connection": ""}, []),
    ],
)
def test_each_option_adds_only_its_flag(
    chart: Chart, values: dict[str, Any], flags: list[str]
) -> None:
    rendered = chart.render(backfill(**values))
    start = values.get("from", FROM)
    assert job_container(rendered)["args"] == [
        "backfill", "--from", start, *flags, "--id", "nov-27", "--config", CONFIG,
    ]  # fmt: skip


def test_an_unquoted_yaml_timestamp_stays_the_text_given(chart: Chart, tmp_path: Path) -> None:
    values = tmp_path / "backfill.yaml"
    values.write_text(
        "backfill: {enabled: true, id: a, from: 2026-11-27T00:00:00Z, to: 2026-11-28T00:00:00Z}\n",
        encoding="utf-8",
    )
    args = job_container(chart.render(None, values))["args"]
    assert args[:5] == ["backfill", "--from", FROM, "--to", "2026-11-28T00:00:00Z"]


def test_the_job_sees_the_deployment_s_config_secrets_and_files(
    full_backfill_render: Rendered,
) -> None:
    main = job_container(full_backfill_render)
    connector = container(full_backfill_render)
    job, live = job_pod(full_backfill_render), deployment_pod(full_backfill_render)
    assert main["env"] == connector["env"]
    assert main.get("envFrom") == connector.get("envFrom")
    assert main["volumeMounts"] == connector["volumeMounts"]
    assert job["volumes"] == live["volumes"]
    assert main["securityContext"] == connector["securityContext"]
    assert (main["image"], main["imagePullPolicy"]) == (
        connector["image"],
        connector["imagePullPolicy"],
    )
    for field in (
        "securityContext",
        "serviceAccountName",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "priorityClassName",
        "terminationGracePeriodSeconds",
        "nodeSelector",
        "tolerations",
        "affinity",
    ):
        assert job[field] == live[field], field
    # The fixture is worth comparing: secrets, TLS and an extra volume are all there.
    assert {"config", "secrets", "kafka-tls", "tmp", "spotify-ca"} == {
        v["name"] for v in job["volumes"]
    }
    env_names = {e["name"] for e in main["env"]}
    assert {"SPOTIFY_CAPI_TOKEN_FILE", "SPOTIFY_CAPI_GLOBEX_TOKEN_FILE", "TZ"} <= env_names


def test_the_job_is_a_batch_pod_that_retries_by_the_job(backfill_render: Rendered) -> None:
    job = the_job(backfill_render)
    spec = job["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert (spec["backoffLimit"], spec["parallelism"], spec["completions"]) == (3, 1, 1)
    assert spec["ttlSecondsAfterFinished"] == 3600
    assert spec["activeDeadlineSeconds"] == 21600
    assert spec["podReplacementPolicy"] == "Failed"
    assert job["metadata"]["annotations"] == {"example.com/ticket": "DATA-1234"}
    main = job_container(backfill_render)
    for absent in ("livenessProbe", "readinessProbe", "startupProbe", "ports"):
        assert absent not in main


def test_job_defaults(chart: Chart) -> None:
    rendered = chart.render(backfill())
    spec = the_job(rendered)["spec"]
    assert spec["backoffLimit"] == 6
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert "activeDeadlineSeconds" not in spec
    assert job_container(rendered)["resources"] == container(rendered)["resources"]
    assert "annotations" not in the_job(rendered)["metadata"]
    kept = the_job(chart.render(backfill(ttlSecondsAfterFinished=None, backoffLimit=0)))["spec"]
    assert "ttlSecondsAfterFinished" not in kept  # null: kept until the release removes it
    assert kept["backoffLimit"] == 0


def test_large_second_counts_stay_whole_numbers(chart: Chart) -> None:
    # YAML numbers reach the template as floats: 2000000 must not render as 2e+06.
    values = backfill(ttlSecondsAfterFinished=2_000_000, activeDeadlineSeconds=10**7)
    spec = the_job(chart.render(values))["spec"]
    assert (spec["ttlSecondsAfterFinished"], spec["activeDeadlineSeconds"]) == (2_000_000, 10**7)


def test_own_resources_replace_the_connector_s(backfill_render: Rendered) -> None:
    assert job_container(backfill_render)["resources"] == {
        "requests": {"cpu": "500m", "memory": "384Mi"},
        "limits": {"memory": "768Mi"},
    }


def test_bad_input_and_dead_letters_fail_the_job_and_evictions_do_not_count(
    backfill_render: Rendered,
) -> None:
    rules = the_job(backfill_render)["spec"]["podFailurePolicy"]["rules"]
    assert rules == [
        {
            "action": "Ignore",
            "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
        },
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "backfill", "operator": "In", "values": [1, 2]},
        },
    ]  # 3 (Kafka or Spotify unreachable) and crashes are retried up to backoffLimit
    assert rules[1]["onExitCodes"]["containerName"] == job_container(backfill_render)["name"]


def test_the_job_s_pod_is_not_one_of_the_live_pods(full_backfill_render: Rendered) -> None:
    """The Service, PDB, NetworkPolicy and Deployment select the live pods only: a PDB with
    maxUnavailable cannot count a Job's pod, and the Service would route to it."""
    labels = the_job(full_backfill_render)["spec"]["template"]["metadata"]["labels"]
    live_policy, _ = network_policies(full_backfill_render)
    selectors = [
        full_backfill_render.one("Deployment")["spec"]["selector"]["matchLabels"],
        full_backfill_render.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        live_policy["spec"]["podSelector"]["matchLabels"],
        full_backfill_render.one("Service")["spec"]["selector"],
    ]
    for selector in selectors:
        assert not selector.items() <= labels.items(), selector
    assert labels["app.kubernetes.io/instance"] == RELEASE
    assert labels["app.kubernetes.io/component"] == "backfill"
    assert labels["team"] == "data-platform"  # podLabels


def network_policies(rendered: Rendered) -> tuple[Manifest, Manifest]:
    """The live pods' NetworkPolicy and the backfill's."""
    live, job = sorted(rendered.all("NetworkPolicy"), key=lambda p: p["metadata"]["name"])
    assert job["metadata"]["name"] == live["metadata"]["name"] + "-backfill"
    return live, job


def test_the_job_s_pod_goes_out_as_the_live_pods_do_and_takes_nothing_in(
    full_backfill_render: Rendered,
) -> None:
    live, job = network_policies(full_backfill_render)
    labels = the_job(full_backfill_render)["spec"]["template"]["metadata"]["labels"]
    assert job["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert job["spec"]["egress"] == live["spec"]["egress"]
    assert job["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in job["spec"]  # no rule: nothing may connect to it


def test_the_job_gets_no_autoscaler_budget_or_service(
    full_render: Rendered, full_backfill_render: Rendered
) -> None:
    # The Job and its NetworkPolicy are the objects the backfill adds; no other object names it.
    added = sorted(o["kind"] for o in full_backfill_render.objects)
    assert added == sorted([*(o["kind"] for o in full_render.objects), "Job", "NetworkPolicy"])
    name = the_job(full_backfill_render)["metadata"]["name"]
    for obj in full_backfill_render.objects:
        if obj["kind"] != "Job":
            assert name not in str(obj), obj["kind"]
    target = full_backfill_render.one("ScaledObject")["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"


@pytest.mark.parametrize(
    "backfill_id",
    ["nov-27", "Nov-27", "nov_27", "nov.27", "2026-11-27.globex", "a" * 27, "a" * 63, "B" * 63],
)
def test_the_job_name_is_a_dns_label_and_one_id_one_name(chart: Chart, backfill_id: str) -> None:
    name = the_job(chart.render(backfill(id=backfill_id)))["metadata"]["name"]
    assert len(name) <= 63
    assert DNS_LABEL.match(name), name
    assert name.startswith(f"{RELEASE}-spotify-capi-connector-backfill-")
    # The same id is the same Job, whatever else changes.
    again = chart.render(backfill(id=backfill_id, dryRun=True, to="1d"))
    assert the_job(again)["metadata"]["name"] == name


def test_an_id_that_is_a_dns_label_is_the_name_s_tail_while_it_fits(chart: Chart) -> None:
    prefix = f"{RELEASE}-spotify-capi-connector-backfill-"
    fits = "a" * (63 - len(prefix))
    assert the_job(chart.render(backfill(id=fits)))["metadata"]["name"] == prefix + fits
    # One more character: the tail gives way to a hash of the id, within 63.
    longer = the_job(chart.render(backfill(id=fits + "a")))["metadata"]["name"]
    assert len(longer) == 63
    assert re.fullmatch(r"capi-spotify-capi-connector-backfill-a+-[0-9a-f]{8}", longer)


def test_ids_a_dns_label_would_merge_keep_their_own_jobs(chart: Chart) -> None:
    ids = ["nov-27", "Nov-27", "nov_27", "nov.27", "a" * 62 + "b", "a" * 62 + "c"]
    names = {the_job(chart.render(backfill(id=i)))["metadata"]["name"] for i in ids}
    assert len(names) == len(ids)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (backfill(id=""), "backfill.enabled needs backfill.id"),
        (backfill(**{"from": ""}), "backfill.enabled needs backfill.from"),
        ({"backfill": {"enabled": True}}, "backfill.enabled needs backfill.id"),
        ({"backfill": {"enabled": True, "id": "x"}}, "backfill.enabled needs backfill.from"),
    ],
)
def test_missing_id_or_from_fails_the_render(
    chart: Chart, values: dict[str, Any], message: str
) -> None:
    error = chart.render_error(values)
    assert message in error
    assert "values don't meet the specifications of the schema" not in error


@pytest.mark.parametrize(
    ("values", "names"),
    [
        (backfill(fromm="7d"), ["/backfill", "fromm"]),
        (backfill(maxRequestsPerSecnd=5), ["/backfill", "maxRequestsPerSecnd"]),
        (backfill(resources={"request": {"cpu": "1"}}), ["/backfill/resources", "request"]),
        (backfill(id="nov 27"), ["/backfill/id"]),
        (backfill(id="-nov"), ["/backfill/id"]),
        (backfill(id=20261127), ["/backfill/id"]),  # a number: YAML would mangle it, quote it
        (backfill(id="x" * 64), ["/backfill/id"]),
        (backfill(topics="tracking-events"), ["/backfill/topics"]),
        (backfill(connection="Globex"), ["/backfill/connection"]),
        (backfill(maxRequestsPerSecond=0), ["/backfill/maxRequestsPerSecond"]),
        (backfill(maxRequestsPerSecond="5"), ["/backfill/maxRequestsPerSecond"]),
        (backfill(dryRun="yes"), ["/backfill/dryRun"]),
        (backfill(backoffLimit=-1), ["/backfill/backoffLimit"]),
        (backfill(activeDeadlineSeconds=0), ["/backfill/activeDeadlineSeconds"]),
        (backfill(annotations={"a": 1}), ["/backfill/annotations/a"]),
    ],
)
def test_schema_rejects_bad_backfill_values(
    chart: Chart, values: dict[str, Any], names: list[str]
) -> None:
    error = chart.render_error(values)
    assert "values don't meet the specifications of the schema" in error
    for name in names:
        assert name in error


def test_lint_passes_with_the_backfill_on(chart: Chart) -> None:
    assert "1 chart(s) linted, 0 chart(s) failed" in chart.lint(None, BACKFILL_VALUES)
    assert "1 chart(s) linted, 0 chart(s) failed" in chart.lint(None, FULL_VALUES, BACKFILL_VALUES)


def test_lint_refuses_a_backfill_without_an_id(chart: Chart) -> None:
    with pytest.raises(HelmFailed) as failed:
        chart.lint({"backfill": {"enabled": True, "from": "7d"}})
    assert "backfill.enabled needs backfill.id" in failed.value.stderr


@pytest.mark.parametrize("version", [KUBE_VERSION, kubernetes_validate.utils.latest_version()])
def test_the_objects_with_the_backfill_are_valid_kubernetes(
    backfill_render: Rendered, full_backfill_render: Rendered, version: str
) -> None:
    """kubernetes-validate, strict (an unknown field fails), on every non-CRD object."""
    for rendered in (backfill_render, full_backfill_render):
        checked = []
        for obj in rendered.objects:
            if obj["kind"] not in CRD_KINDS:
                kubernetes_validate.validate(obj, version, strict=True)
                checked.append(obj["kind"])
        assert "Job" in checked


def test_validator_rejects_a_misspelt_job_field(backfill_render: Rendered) -> None:
    job = the_job(backfill_render)
    broken = {**job, "spec": {**job["spec"], "backoffLimt": 6}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)
