"""Every setting of connector.config.Settings can be set from the chart's values.

A values file sets every field to a value other than its default (secrets under `secrets`, the Ads
API account under `adsApi`, the periodic reconciliation under `reconcile`, the rest under
`config`); the test then plays the pod: it writes the rendered config.yaml and Secret files
where the Deployment mounts them, sets the Deployment's env, and loads the settings the way `run`
does. A field added to config.py without a place in the chart (or its schema) fails here.
"""

from __future__ import annotations

import base64
import json
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import certifi
import pytest
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from connector.assemble import load_settings
from connector.config import WELL_KNOWN_ENV, Settings
from tests.chart.helm import CHART_DIR, Chart, Manifest, Rendered, config_yaml, container

pytestmark = pytest.mark.chart

# Settings that are secrets: they come from `secrets.<value>`, never from `config`.
SECRET_VALUES = {
    ("kafka", "sasl_password"): "kafkaSaslPassword",
    ("kafka", "ssl_key_password"): "kafkaSslKeyPassword",
    ("decode", "schema_registry_basic_auth"): "schemaRegistryBasicAuth",
    ("spotify", "token"): "spotifyToken",
    ("spotify", "connection_id"): "spotifyConnectionId",
    ("spotify", "connections"): "spotifyConnections",
    ("ads_api", "client_secret"): "spotifyAdsClientSecret",
    ("ads_api", "refresh_token"): "spotifyAdsRefreshToken",
}
# Settings with a value of their own outside `config` (the chart renders them into config.yaml):
# the Ads API account under `adsApi`, the periodic reconciliation under `reconcile` (enabled).
CHART_VALUES = {
    ("ads_api", "client_id"): ("adsApi", "clientId"),
    ("ads_api", "business_id"): ("adsApi", "businessId"),
    ("ads_api", "dataset_id"): ("adsApi", "datasetId"),
    ("ads_api", "connections"): ("adsApi", "connections"),
    ("ads_api", "reconcile_interval_s"): ("reconcile", "intervalSeconds"),
    ("ads_api", "reconcile_window_h"): ("reconcile", "windowHours"),
    ("ads_api", "processing_delay_s"): ("reconcile", "processingDelaySeconds"),
}
# adsApi.connections.<name> in the chart's spelling.
ADS_CONNECTION_FIELDS = {"dataset_id": "datasetId", "business_id": "businessId"}
# Settings the chart sets by itself, not from a value: the token's file is where the pod mounts
# the Secret's key (SPOTIFY_CAPI_TOKEN_FILE), which the connector re-reads when it changes.
DERIVED = {("spotify", "token_file")}
# Fields whose validators want more than their type says, and numbers Helm must not mangle.
SAMPLE_OVERRIDES: dict[tuple[str, str], Any] = {
    ("spotify", "url"): "https://capi.example.test/capi-direct/events/",
    ("decode", "schema_registry_url"): "https://registry.example.test:8081",
    ("transform", "event_name_mapping"): {"Order Completed": "PURCHASE", "Signed Up": "SIGN_UP"},
    ("transform", "default_phone_region"): "GB",
    ("transform", "content_category_mapping"): {"Sneakers": "Apparel & Accessories > Shoes"},
    ("transform", "max_length"): {"event_id": 128, "click_id": 1024},
    ("transform", "consent"): {
        "property": "onetrust_groups",
        "category": "C0004",
        "on_denied": "attribution_only",
        "on_missing": "send",
    },
    ("transform", "allowed_fields"): ["user_data.hashed_emails", "event_details.content_name"],
    ("kafka", "client_properties"): {"client.rack": "zone-a", "fetch.max.bytes": "1048576"},
    ("pipeline", "max_unsettled"): 5_000_000.0,  # a whole float must not render as 5e+06
    ("pipeline", "prepare_processes"): 2,  # a count or "auto" (the default)
    ("sink", "backoff_initial_s"): 0.00005,  # rendered as 5e-05, which YAML reads as text
    ("spotify", "connections"): {"brand_b": {"token": "canary-b", "connection_id": "conn-b"}},
    ("routing", "routes"): {"acme": "brand_b"},
    ("routing", "default"): None,  # routes must name known connections: null is the other choice
    # Settings check that the CA bundle is a PEM file, so the sample names one every install has.
    ("spotify", "ca_bundle"): certifi.where(),
    ("ads_api", "url"): "https://ads.example.test/ads/v3",
    ("ads_api", "token_url"): "https://accounts.example.test/api/token",
    ("ads_api", "reconcile_interval_s"): 1800,  # at least 60; whole seconds in the chart
    ("ads_api", "connections"): {"brand_b": {"dataset_id": "dataset-b", "business_id": "biz-b"}},
}


def sections() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type)
        assert issubclass(field.annotation, BaseModel)
        found[name] = field.annotation
    return found


SIMPLE_SAMPLES: dict[Any, Any] = {
    str: lambda name, default: [f"sample-{name}"],
    Path: lambda name, default: [f"/etc/sample/{name}"],
    SecretStr: lambda name, default: [f"canary-{name}"],
    bool: lambda name, default: [not default],
    int: lambda name, default: [default + 1, default - 1],
    float: lambda name, default: [1.5] if default is None else [default + 1.5, default / 2],
}


def candidates(section: str, name: str, annotation: Any, default: Any) -> list[Any]:
    """Values of the field's type that differ from its default, most telling first."""
    if (section, name) in SAMPLE_OVERRIDES:
        return [SAMPLE_OVERRIDES[(section, name)]]
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union) and len(args) == 1:
        return candidates(section, name, args[0], default)
    if origin is Literal:
        return [choice for choice in args if choice != default]
    if origin is dict:
        return [{"sample.key": "sample-value"}]
    if annotation in SIMPLE_SAMPLES:
        samples: list[Any] = SIMPLE_SAMPLES[annotation](name, default)
        return samples
    pytest.fail(f"no sample for {section}.{name} ({annotation}): add one to SAMPLE_OVERRIDES")


def sample_tree() -> dict[str, dict[str, Any]]:
    """A valid settings tree in which every field differs from its default."""
    tree: dict[str, dict[str, Any]] = {}
    for section, model in sections().items():
        tree[section] = {}
        for name, field in model.model_fields.items():
            if (section, name) in DERIVED:
                continue
            default = field.get_default(call_default_factory=True)
            annotated: Any = (
                Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
            )
            adapter: TypeAdapter[Any] = TypeAdapter(annotated)
            for candidate in candidates(section, name, field.annotation, default):
                try:
                    adapter.validate_python(candidate)
                except ValidationError:
                    continue
                tree[section][name] = candidate
                break
            else:
                pytest.fail(f"no valid sample for {section}.{name}: add one to SAMPLE_OVERRIDES")
    return tree


def chart_values(tree: dict[str, dict[str, Any]]) -> dict[str, Any]:
    config = {section: dict(fields) for section, fields in tree.items()}
    secrets = {}
    for (section, name), value_name in SECRET_VALUES.items():
        secrets[value_name] = config[section].pop(name)
    values: dict[str, Any] = {"config": config, "secrets": secrets, "reconcile": {"enabled": True}}
    for (section, name), (block, value_name) in CHART_VALUES.items():
        value = config[section].pop(name)
        if (section, name) == ("ads_api", "connections"):
            value = {
                connection: {ADS_CONNECTION_FIELDS[k]: v for k, v in fields.items()}
                for connection, fields in value.items()
            }
        values.setdefault(block, {})[value_name] = value
    return values


def play_pod(rendered: Rendered, root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Lay out the pod's files under root and set its env; return the --config path."""
    secret_data = {
        key: base64.b64decode(value).decode()
        for key, value in rendered.one("Secret")["data"].items()
    }
    main = container(rendered)
    config_arg = Path(main["args"][main["args"].index("--config") + 1])
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    volumes: list[Manifest] = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    secrets_volume = next(v for v in volumes if v["name"] == "secrets")["secret"]

    config_file = root / config_arg.relative_to("/")
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(rendered.one("ConfigMap")["data"]["config.yaml"], encoding="utf-8")
    secrets_dir = root / Path(mounts["secrets"]).relative_to("/")
    secrets_dir.mkdir(parents=True, exist_ok=True)
    for item in secrets_volume["items"]:
        (secrets_dir / item["path"]).write_text(secret_data[item["key"]], encoding="utf-8")

    for env in main["env"]:
        value = env["value"]
        if value.startswith("/"):  # a path inside the pod
            value = str(root / Path(value).relative_to("/"))
        monkeypatch.setenv(env["name"], value)
    return config_file


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting may leak in from the machine's own environment."""
    for name in list(os.environ):
        if name.startswith("CONNECTOR_") or name.removesuffix("_FILE") in WELL_KNOWN_ENV:
            monkeypatch.delenv(name)
    return monkeypatch


def test_every_setting_is_reachable_from_values(
    chart: Chart, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    tree = sample_tree()
    expected = Settings.model_validate(tree)
    defaults = Settings.model_validate({})
    for section, fields in tree.items():
        for name in fields:
            assert getattr(getattr(expected, section), name) != getattr(
                getattr(defaults, section), name
            ), f"{section}.{name}: the sample equals the default, so it proves nothing"

    rendered = chart.render(chart_values(tree))
    loaded = load_settings(play_pod(rendered, tmp_path, clean_env))
    # Where the pod reads each token, again when it changes: the mounted Secret's keys.
    assert loaded.spotify.token_file == Path(os.environ["SPOTIFY_CAPI_TOKEN_FILE"])
    brand_b = loaded.spotify.connections["brand_b"]
    assert brand_b.token_file == Path(os.environ["SPOTIFY_CAPI_BRAND_B_TOKEN_FILE"])
    connections = {"brand_b": brand_b.model_copy(update={"token_file": None})}
    spotify = loaded.spotify.model_copy(update={"token_file": None, "connections": connections})
    loaded = loaded.model_copy(update={"spotify": spotify})

    for section, fields in tree.items():
        for name in fields:
            assert getattr(getattr(loaded, section), name) == getattr(
                getattr(expected, section), name
            ), f"{section}.{name} did not reach the connector"
    assert loaded == expected


def test_rendered_numbers_stay_numbers(chart: Chart) -> None:
    # Older Helm wrote whole floats as 5e+06, which an int setting refuses: guard against it.
    values = {"config": {"pipeline": {"max_unsettled": 5_000_000.0, "drain_timeout_s": 12.5}}}
    pipeline = config_yaml(chart.render(values))["pipeline"]
    assert pipeline == {"max_unsettled": 5_000_000, "drain_timeout_s": 12.5, "prepare_processes": 0}
    assert isinstance(pipeline["max_unsettled"], int)


def test_schema_config_tree_matches_the_settings_model() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    config_schema = schema["properties"]["config"]
    assert config_schema["additionalProperties"] is False
    assert set(config_schema["properties"]) == set(Settings.model_fields)
    for section, model in sections().items():
        section_schema = config_schema["properties"][section]
        assert section_schema["additionalProperties"] is False, section
        secret_fields = {
            name for (sec, name) in {*SECRET_VALUES, *DERIVED, *CHART_VALUES} if sec == section
        }
        assert set(section_schema["properties"]) == set(model.model_fields) - secret_fields, section


def test_every_secret_field_has_a_secret_value() -> None:
    secret_like = {
        (section, name)
        for section, model in sections().items()
        for name, field in model.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert secret_like <= set(SECRET_VALUES)
    assert ("spotify", "connection_id") in SECRET_VALUES
