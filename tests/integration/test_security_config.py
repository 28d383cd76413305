"""Security settings: plain http:// only to loopback (or when explicitly allowed), secrets from the
environment or from mounted files, a CA bundle that must exist, and no secret in any text the
settings produce (repr, errors, JSON)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from connector.assemble import load_settings
from connector.config import (
    SECRET_ENV,
    WELL_KNOWN_ENV,
    SpotifySettings,
    describe_validation_error,
    display_url,
    well_known_values,
)
from connector.errors import ConfigError
from connector.kafka.client_config import client_properties
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
    assert client_properties(settings.kafka)["sasl.password"] == CANARY_PASSWORD  # librdkafka's
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


# --- fail fast and clearly: one line naming the setting, exit 2, never the value -----------------

CONNECTION_ID = "5f0c6d2e-8b1a-4c3e-9d7f-2a6b4e8c1d90"


def test_both_forms_of_a_secret_lose_surrounding_whitespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIFY_CAPI_TOKEN", f"{CANARY_TOKEN}\n")  # the usual secret mistake
    monkeypatch.setenv("SPOTIFY_CAPI_CONNECTION_ID", f" {CONNECTION_ID}\r\n")
    (tmp_path / "password").write_text(f"\t{CANARY_PASSWORD} \n")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    settings = load_settings()
    assert settings.spotify.token is not None
    assert settings.spotify.token.get_secret_value() == CANARY_TOKEN
    assert settings.spotify.connection_id == CONNECTION_ID
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == CANARY_PASSWORD


# (environment variable, value, the one line expected)
REFUSED_SETTINGS = [
    (
        "SPOTIFY_CAPI_TOKEN",
        f"tok-{CANARY_TOKEN}\nX-Injected: 1",
        "invalid settings: spotify.token: Value error, contains a control character",
    ),
    (
        "SPOTIFY_CAPI_TOKEN",
        " \t\n",
        "invalid settings: spotify.token: Value error, is blank (empty or only whitespace)",
    ),
    (
        "SPOTIFY_CAPI_CONNECTION_ID",
        "   ",
        "invalid settings: spotify.connection_id: Value error, is blank (empty or only whitespace)",
    ),
    (
        "SPOTIFY_CAPI_CONNECTION_ID",
        f"{CONNECTION_ID}\x7f{CANARY_TOKEN}",
        "invalid settings: spotify.connection_id: Value error, contains a control character",
    ),
    (
        "SPOTIFY_CAPI_URL",
        f"https://capi.spotify.com/capi-direct/events/\x1b{CANARY_TOKEN}",
        "invalid settings: spotify.url: Value error, contains a control character",
    ),
    (
        "SPOTIFY_CAPI_URL",
        f"https://user:{CANARY_PASSWORD}@capi.spotify.com/capi-direct/events/",
        "invalid settings: spotify.url: Value error, must not carry credentials "
        "(user:password@); use the secret settings",
    ),
    (
        "SCHEMA_REGISTRY_URL",
        f"http://registry:{CANARY_PASSWORD}@127.0.0.1:8081",
        "invalid settings: decode.schema_registry_url: Value error, must not carry credentials "
        "(user:password@); use the secret settings",
    ),
    (
        "CONNECTOR_TELEMETRY__OTLP_ENDPOINT",
        f"http://otel:{CANARY_PASSWORD}@collector:4318",
        "invalid settings: telemetry.otlp_endpoint: Value error, must not carry credentials "
        "(user:password@); use the secret settings",
    ),
    (
        "CONNECTOR_KAFKA__CLIENT_PROPERTIES",
        f'{{"client.rack": "a", "no.such.property": "{CANARY_PASSWORD}"}}',
        "kafka.client_properties: librdkafka refuses the property 'no.such.property' "
        "(unknown, or a value it does not accept)",
    ),
    (
        "CONNECTOR_KAFKA__CLIENT_PROPERTIES",
        f'{{"acks": "{CANARY_PASSWORD}"}}',
        "kafka.client_properties: librdkafka refuses the property 'acks' "
        "(unknown, or a value it does not accept)",
    ),
]


@pytest.mark.parametrize(("variable", "value", "line"), REFUSED_SETTINGS)
def test_a_refused_setting_is_one_line_naming_it_never_its_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv("SPOTIFY_CAPI_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("SPOTIFY_CAPI_CONNECTION_ID", CONNECTION_ID)
    monkeypatch.setenv("CONNECTOR_DECODE__FORMAT", "confluent")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert (str(refused.value), leaks(str(refused.value))) == (line, [])


def test_files_that_are_not_utf8_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    latin1 = tmp_path / "token"
    latin1.write_bytes(b"caf\xe9-" + CANARY_TOKEN.encode())
    with pytest.raises(ConfigError) as refused:
        well_known_values({"SPOTIFY_CAPI_TOKEN_FILE": str(latin1)})
    assert str(refused.value) == f"SPOTIFY_CAPI_TOKEN_FILE: {latin1} is not UTF-8 text"
    config = tmp_path / "connector.yaml"
    config.write_bytes(b"spotify:\n  token: caf\xe9-" + CANARY_TOKEN.encode() + b"\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert str(refused.value) == f"config file {config} is not UTF-8 text"


def test_malformed_yaml_gives_the_place_not_the_lines(tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(
        f'spotify:\n  url: "https://capi.spotify.com/x/"\n  token: {CANARY_TOKEN}\n'
        f"   connection_id: {CANARY_PASSWORD}: x\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert str(refused.value) == f"config file {config} is not valid YAML (line 4, column 17)"


def test_a_ca_bundle_that_is_not_pem_is_refused_at_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    der = tmp_path / "ca.der"
    der.write_bytes(b"0\x82\x01\x0a" + bytes(range(256)))
    monkeypatch.setenv("SPOTIFY_CAPI_CA_BUNDLE", str(der))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == (
        "invalid settings: spotify.ca_bundle: Value error, is not a PEM file of CA certificates"
    )
    monkeypatch.setenv("SPOTIFY_CAPI_CA_BUNDLE", str(shared_tls().key_pem))  # PEM, but a key
    with pytest.raises(ConfigError, match=r"spotify\.ca_bundle: Value error, is not a PEM"):
        load_settings()


def test_urls_are_shown_without_userinfo() -> None:
    assert display_url("https://user:pw@registry.internal:8081/x?y=1") == (
        "https://registry.internal:8081/x?y=1"
    )
    assert display_url("https://capi.spotify.com/capi-direct/events/") == (
        "https://capi.spotify.com/capi-direct/events/"
    )


# (case, environment changes, bytes of the file "{file}" names, what the line must name);
# "{config}" in place of a variable name: the file is given as --config.
REFUSED_AT_START: list[tuple[str, dict[str, str], bytes, str]] = [
    (
        "control character in the token",
        {"SPOTIFY_CAPI_TOKEN": f"tok-{CANARY_TOKEN}\x07"},
        b"",
        "spotify.token",
    ),
    ("whitespace-only token", {"SPOTIFY_CAPI_TOKEN": " \n"}, b"", "spotify.token"),
    (
        "credentials in the url",
        {"SPOTIFY_CAPI_URL": f"https://u:{CANARY_PASSWORD}@capi.spotify.com/capi-direct/events/"},
        b"",
        "spotify.url",
    ),
    (
        "token file not utf-8",
        {"SPOTIFY_CAPI_TOKEN": "", "SPOTIFY_CAPI_TOKEN_FILE": "{file}"},
        CANARY_TOKEN.encode() + b"\xff\n",
        "SPOTIFY_CAPI_TOKEN_FILE",
    ),
    ("ca bundle not pem", {"SPOTIFY_CAPI_CA_BUNDLE": "{file}"}, bytes(range(256)), "ca_bundle"),
    (
        "unknown client property",
        {"CONNECTOR_KAFKA__CLIENT_PROPERTIES": f'{{"no.such.property": "{CANARY_PASSWORD}"}}'},
        b"",
        "client_properties",
    ),
    (
        "malformed yaml",
        {"{config}": "{file}"},
        f"spotify:\n  token: {CANARY_TOKEN}\n connection_id: [x\n".encode(),
        "not valid YAML (line 3, column 2)",
    ),
]


@pytest.mark.parametrize("command", ["check-config", "run"])
@pytest.mark.parametrize(
    ("changes", "content", "named"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED_AT_START],
)
def test_run_and_check_config_refuse_a_bad_setting_with_one_line_and_exit_2(
    tmp_path: Path, command: str, changes: dict[str, str], content: bytes, named: str
) -> None:
    file = tmp_path / "file"
    file.write_bytes(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "KAFKA_"))}
    env |= {"SPOTIFY_CAPI_TOKEN": CANARY_TOKEN, "SPOTIFY_CAPI_CONNECTION_ID": CONNECTION_ID}
    env |= {name: value.replace("{file}", str(file)) for name, value in changes.items()}
    args = ["--config", env.pop("{config}")] if "{config}" in env else []
    if not env["SPOTIFY_CAPI_TOKEN"]:
        del env["SPOTIFY_CAPI_TOKEN"]  # the file form only
    finished = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "connector", command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert finished.stdout == ""
    [line] = finished.stderr.splitlines()
    assert line.startswith(f"spotify-capi-connector {command}: ")
    assert named in line
    assert leaks(finished.stderr) == []
