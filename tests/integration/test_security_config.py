"""Security settings: plain http:// only to loopback (or when explicitly allowed), secrets from the
environment or from mounted files, a CA bundle that must exist, and no secret in any text the
settings produce (repr, errors, JSON)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from connector.config import (
    SECRET_ENV,
    WELL_KNOWN_ENV,
    SpotifySettings,
    describe_validation_error,
    load_settings,
    well_known_values,
)
from connector.errors import ConfigError
from tests.reliability.canary import CANARY_PASSWORD, CANARY_TOKEN, leaks, shared_tls

pytestmark = pytest.mark.integration

EVENTS = "/capi-direct/events/"


@pytest.mark.parametrize(
    "url",
    [
        f"http://localhost:8080{EVENTS}",
        f"http://127.0.0.1:8080{EVENTS}",
        f"http://127.9.8.7{EVENTS}",
        f"http://[::1]:8080{EVENTS}",
        f"HTTP://LOCALHOST{EVENTS}",
        f"https://capi.spotify.com{EVENTS}",
        f"https://proxy.internal.example:8443{EVENTS}",
    ],
)
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str) -> None:
    assert SpotifySettings(url=url).url == url


@pytest.mark.parametrize(
    "url",
    [
        f"http://capi.spotify.com{EVENTS}",
        f"http://10.0.0.8{EVENTS}",
        f"http://localhost.evil.example{EVENTS}",
        f"http://127.0.0.1.nip.io{EVENTS}",
        f"http://localhost@evil.example{EVENTS}",  # userinfo, not the host
        f"http://[::ffff:127.0.0.1]{EVENTS}",  # mapped IPv4: refused on the safe side
        f"http://2130706433{EVENTS}",  # 127.0.0.1 as a number: resolvers accept it; we do not
    ],
)
def test_plain_http_to_any_other_host_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="allow_insecure_http"):
        SpotifySettings(url=url)
    assert SpotifySettings(url=url, allow_insecure_http=True).url == url


@pytest.mark.parametrize("url", ["ftp://capi.spotify.com/", "capi.spotify.com/events", "https://"])
def test_urls_that_are_not_http_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        SpotifySettings(url=url)


def test_the_insecure_flag_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_CAPI_URL", f"http://capi-proxy.internal{EVENTS}")
    with pytest.raises(ConfigError, match=r"spotify: .*allow_insecure_http"):
        load_settings()
    monkeypatch.setenv("CONNECTOR_SPOTIFY__ALLOW_INSECURE_HTTP", "true")
    assert load_settings().spotify.url == f"http://capi-proxy.internal{EVENTS}"


def test_every_secret_may_come_from_a_file(tmp_path: Path) -> None:
    environ = {}
    for name in sorted(SECRET_ENV):
        (tmp_path / name).write_text(f"{name.lower()}-from-file\n")  # a mount ends with a newline
        environ[f"{name}_FILE"] = str(tmp_path / name)
    values = well_known_values(environ)
    for name in SECRET_ENV:
        section, field = WELL_KNOWN_ENV[name]
        assert values[section][field] == f"{name.lower()}-from-file"


def test_the_variable_wins_over_the_file_and_other_names_take_no_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file")
    (tmp_path / "servers").write_text("file-broker:9092")
    values = well_known_values(
        {
            "SPOTIFY_CAPI_TOKEN": "from-variable",
            "SPOTIFY_CAPI_TOKEN_FILE": str(tmp_path / "token"),
            "KAFKA_BOOTSTRAP_SERVERS_FILE": str(tmp_path / "servers"),
        }
    )
    assert values == {"spotify": {"token": "from-variable"}}


def test_an_unreadable_secret_file_names_the_variable_not_a_value(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-secret"
    with pytest.raises(ConfigError) as refused:
        well_known_values({"KAFKA_SASL_PASSWORD_FILE": str(missing)})
    assert str(refused.value) == (
        f"KAFKA_SASL_PASSWORD_FILE: cannot read {missing}: No such file or directory"
    )


def test_secrets_from_files_reach_the_settings_and_no_text_shows_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text(CANARY_TOKEN + "\n")
    (tmp_path / "password").write_text(CANARY_PASSWORD + "\n")
    monkeypatch.setenv("SPOTIFY_CAPI_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("SPOTIFY_CAPI_CONNECTION_ID", "5f0c6d2e-8b1a-4c3e-9d7f-2a6b4e8c1d90")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    settings = load_settings()
    settings.require_delivery()
    assert settings.spotify.token is not None
    assert settings.spotify.token.get_secret_value() == CANARY_TOKEN
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == CANARY_PASSWORD
    assert settings.kafka.client_config()["sasl.password"] == CANARY_PASSWORD  # librdkafka's own
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert leaks(text) == []


def test_a_validation_error_never_echoes_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_CAPI_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", CANARY_PASSWORD)
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", f"NOT-A-MECHANISM-{CANARY_PASSWORD}")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith("invalid settings: kafka.sasl_mechanism: Input should be")
    assert leaks(str(refused.value)) == []
    with pytest.raises(ValidationError) as raw:
        SpotifySettings(url="ftp://x/", token=CANARY_TOKEN)  # type: ignore[arg-type]
    assert leaks(describe_validation_error(raw.value)) == []


def test_the_ca_bundle_must_be_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPOTIFY_CAPI_CA_BUNDLE", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(ConfigError, match=r"spotify\.ca_bundle: Path does not point to a file"):
        load_settings()
    monkeypatch.setenv("SPOTIFY_CAPI_CA_BUNDLE", str(shared_tls().ca_pem))
    assert load_settings().spotify.ca_bundle == shared_tls().ca_pem
