"""Secrets reach the pod only as mounted files, never in the ConfigMap or env."""

from __future__ import annotations

import base64

import pytest

from tests.chart.helm import Chart, Rendered, container

pytestmark = pytest.mark.chart

CANARIES = {
    "spotifyToken": "canary-token-7f3a9c",
    "spotifyConnectionId": "canary-connection-51d2",
    "kafkaSaslPassword": "canary-sasl-88e0",
    "kafkaSslKeyPassword": "canary-keypass-03b7",
    "schemaRegistryBasicAuth": "canary-user:canary-registry-pw",
}


@pytest.fixture(scope="module")
def canary_render(chart: Chart) -> Rendered:
    return chart.render({"secrets": CANARIES})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_canaries_appear_only_in_the_secret(canary_render: Rendered) -> None:
    for canary in CANARIES.values():
        assert canary not in canary_render.text  # not even in the Secret: it holds base64
        holders = [obj["kind"] for obj in canary_render.objects if b64(canary) in repr(obj)]
        assert holders == ["Secret"], canary


def test_secret_holds_every_value_under_its_key(canary_render: Rendered) -> None:
    data = canary_render.one("Secret")["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    assert decoded == {
        "spotify-capi-token": CANARIES["spotifyToken"],
        "spotify-capi-connection-id": CANARIES["spotifyConnectionId"],
        "kafka-sasl-password": CANARIES["kafkaSaslPassword"],
        "kafka-ssl-key-password": CANARIES["kafkaSslKeyPassword"],
        "schema-registry-basic-auth": CANARIES["schemaRegistryBasicAuth"],
    }


def test_secrets_reach_the_container_as_mounted_files(canary_render: Rendered) -> None:
    main = container(canary_render)
    assert all("value" not in env or not env["value"].startswith("canary") for env in main["env"])
    files = {env["name"]: env["value"] for env in main["env"] if env["name"].endswith("_FILE")}
    secrets_dir = "/etc/spotify-capi-connector/secrets"
    assert files == {
        "SPOTIFY_CAPI_TOKEN_FILE": f"{secrets_dir}/spotify-capi-token",
        "SPOTIFY_CAPI_CONNECTION_ID_FILE": f"{secrets_dir}/spotify-capi-connection-id",
        "KAFKA_SASL_PASSWORD_FILE": f"{secrets_dir}/kafka-sasl-password",
        "KAFKA_SSL_KEY_PASSWORD_FILE": f"{secrets_dir}/kafka-ssl-key-password",
        "SCHEMA_REGISTRY_BASIC_AUTH_FILE": f"{secrets_dir}/schema-registry-basic-auth",
    }
    assert [env for env in main["env"] if "valueFrom" in env] == []
    mount = next(m for m in main["volumeMounts"] if m["name"] == "secrets")
    assert mount == {"name": "secrets", "mountPath": secrets_dir, "readOnly": True}
    volumes = canary_render.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    secret_volume = next(v for v in volumes if v["name"] == "secrets")["secret"]
    assert secret_volume["defaultMode"] == 0o400
    assert [item["key"] for item in secret_volume["items"]] == [
        "spotify-capi-token",
        "spotify-capi-connection-id",
        "kafka-sasl-password",
        "kafka-ssl-key-password",
        "schema-registry-basic-auth",
    ]


def test_unset_secrets_are_not_referenced(chart: Chart) -> None:
    rendered = chart.render({"secrets": {"spotifyToken": "t", "spotifyConnectionId": "c"}})
    names = [env["name"] for env in container(rendered)["env"]]
    assert names == ["SPOTIFY_CAPI_TOKEN_FILE", "SPOTIFY_CAPI_CONNECTION_ID_FILE"]
    assert sorted(rendered.one("Secret")["data"]) == [
        "spotify-capi-connection-id",
        "spotify-capi-token",
    ]


def test_existing_secret_is_used_with_its_key_names(chart: Chart) -> None:
    rendered = chart.render(
        {"secrets": {"existingSecret": {"name": "managed", "keys": {"spotifyToken": "jwt"}}}}
    )
    assert "Secret" not in rendered.kinds()
    env = {e["name"]: e["value"] for e in container(rendered)["env"]}
    assert env == {
        "SPOTIFY_CAPI_TOKEN_FILE": "/etc/spotify-capi-connector/secrets/jwt",
        "SPOTIFY_CAPI_CONNECTION_ID_FILE": (
            "/etc/spotify-capi-connector/secrets/spotify-capi-connection-id"
        ),
    }
    volumes = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    secret_volume = next(v for v in volumes if v["name"] == "secrets")["secret"]
    assert secret_volume["secretName"] == "managed"
    assert [i["key"] for i in secret_volume["items"]] == ["jwt", "spotify-capi-connection-id"]


def test_existing_secret_and_inline_values_together_fail(chart: Chart) -> None:
    error = chart.render_error(
        {"secrets": {"spotifyToken": "t", "existingSecret": {"name": "managed"}}}
    )
    assert "leave the inline secrets.* values empty" in error


def test_kafka_tls_files_are_mounted_and_configured(chart: Chart) -> None:
    rendered = chart.render(
        {
            "config": {"kafka": {"security_protocol": "SSL"}},
            "kafkaTls": {"enabled": True, "secretName": "kafka-tls", "keyKey": "tls.key"},
        }
    )
    main = container(rendered)
    mount = next(m for m in main["volumeMounts"] if m["name"] == "kafka-tls")
    assert mount == {
        "name": "kafka-tls",
        "mountPath": "/etc/spotify-capi-connector/kafka-tls",
        "readOnly": True,
    }
    volumes = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    tls = next(v for v in volumes if v["name"] == "kafka-tls")["secret"]
    assert tls["secretName"] == "kafka-tls"
    assert [i["key"] for i in tls["items"]] == ["ca.crt", "tls.key"]
    config = rendered.one("ConfigMap")["data"]["config.yaml"]
    assert "ssl_ca_location: /etc/spotify-capi-connector/kafka-tls/ca.crt" in config
    assert "ssl_key_location: /etc/spotify-capi-connector/kafka-tls/tls.key" in config
    assert "ssl_certificate_location" not in config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"kafkaTls": {"enabled": True, "secretName": "kafka-tls"}},
            "kafkaTls.enabled needs config.kafka.security_protocol SSL or SASL_SSL, not PLAINTEXT",
        ),
        (
            {"config": {"kafka": {"security_protocol": "SSL"}}, "kafkaTls": {"enabled": True}},
            "kafkaTls.enabled needs kafkaTls.secretName",
        ),
    ],
)
def test_kafka_tls_misconfiguration_fails_clearly(
    chart: Chart, values: dict[str, object], message: str
) -> None:
    assert message in chart.render_error(values)


def test_named_connections_get_their_own_secret_keys_and_files(chart: Chart) -> None:
    connections = {"brand_b": {"token": "canary-b-token", "connection_id": "canary-b-conn"}}
    rendered = chart.render({"secrets": {"spotifyConnections": connections}})
    data = rendered.one("Secret")["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    assert decoded == {
        "spotify-capi-brand_b-token": "canary-b-token",
        "spotify-capi-brand_b-connection-id": "canary-b-conn",
    }
    assert "canary-b" not in rendered.text
    env = {e["name"]: e["value"] for e in container(rendered)["env"]}
    where = "/etc/spotify-capi-connector/secrets/spotify-capi-brand_b"
    assert env == {
        "SPOTIFY_CAPI_BRAND_B_CONNECTION_ID_FILE": f"{where}-connection-id",
        "SPOTIFY_CAPI_BRAND_B_TOKEN_FILE": f"{where}-token",
    }


def test_named_connections_of_an_existing_secret_use_its_key_names(chart: Chart) -> None:
    keys = {"spotifyToken": "", "spotifyConnectionId": "", "spotifyConnections": {
        "eu": {"token": "eu-jwt", "connection_id": "eu-id"}
    }}  # fmt: skip
    rendered = chart.render({"secrets": {"existingSecret": {"name": "managed", "keys": keys}}})
    assert "Secret" not in rendered.kinds()
    env = {e["name"]: e["value"] for e in container(rendered)["env"]}
    assert env == {
        "SPOTIFY_CAPI_EU_CONNECTION_ID_FILE": "/etc/spotify-capi-connector/secrets/eu-id",
        "SPOTIFY_CAPI_EU_TOKEN_FILE": "/etc/spotify-capi-connector/secrets/eu-jwt",
    }


def test_a_connection_name_the_connector_would_refuse_fails_the_schema(chart: Chart) -> None:
    error = chart.render_error({"secrets": {"spotifyConnections": {"Brand-B": {"token": "t"}}}})
    assert "spotifyConnections" in error


def test_secrets_the_chart_does_not_make_roll_the_pods_when_they_change(chart: Chart) -> None:
    """Their checksum (what `lookup` reads at an install or upgrade) is on the pod template; the
    Kafka TLS Secret can also be left to Stakater Reloader for renewals outside Helm."""
    values = {
        "secrets": {"existingSecret": {"name": "capi-secrets"}},
        "kafkaTls": {"enabled": True, "secretName": "kafka-certs", "reloadOnRenewal": True},
        "config": {"kafka": {"security_protocol": "SSL"}},
    }
    deployment = chart.render(values).one("Deployment")
    pod = deployment["spec"]["template"]["metadata"]["annotations"]
    assert {
        "checksum/config",
        "checksum/secret",
        "checksum/existing-secret",
        "checksum/kafka-tls",
    } <= set(pod)
    assert deployment["metadata"]["annotations"] == {
        "secret.reloader.stakater.com/reload": "kafka-certs"
    }
    plain = chart.render({}).one("Deployment")
    assert set(plain["spec"]["template"]["metadata"]["annotations"]) == {
        "checksum/config",
        "checksum/secret",
    }
    assert "annotations" not in plain["metadata"]
