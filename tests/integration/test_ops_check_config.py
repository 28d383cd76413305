"""`check-config` against the real broker: what `run` would do, or one line on the first problem."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from capi_devtools.sandbox import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_TOKEN,
    SandboxSettings,
    SandboxThread,
)
from connector.cli import main
from tests.reliability.canary import shared_tls
from tests.support.kafka import create_topics

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, bootstrap: str, topic: str, **sections: dict[str, Any]) -> Path:
    data: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "input_topic": topic,
            "group_id": "shop-capi",
            "results_topic": f"{topic}-results",
            "dlq_topic": f"{topic}-dlq",
        },
        "spotify": {
            "url": "https://capi.example.test/capi-direct/events/",
            "token": f"{DEFAULT_TOKEN}\n",  # a trailing newline is stripped
            "connection_id": DEFAULT_CONNECTION_ID,
        },
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _check_with_topics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bootstrap: str, **sections: dict[str, Any]
) -> tuple[int, str, str]:
    """`_check` on a config whose three topics exist, with `sections` overriding the defaults."""
    topic = f"check-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, topic, f"{topic}-results", f"{topic}-dlq", partitions=1)
    return _check(capsys, _config(tmp_path, bootstrap, topic, **sections))


def _check(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["check-config", "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_good_config_prints_what_run_would_do_without_secrets(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"check-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, partitions=3)
    create_topics(kafka_bootstrap, f"{topic}-results", f"{topic}-dlq", partitions=1)
    with SandboxThread() as sandbox:
        config = _config(tmp_path, kafka_bootstrap, topic, spotify={"url": sandbox.url})
        code, out, err = _check(capsys, config)
        requests = sandbox.state.stats().requests_total
    assert requests == 0  # connected, but sent no request
    assert (code, err) == (0, "")
    lines = {line[:14].strip(): line[14:] for line in out.splitlines()}
    assert lines["settings"] == f"valid ({config})"
    assert lines["kafka"] == f"{kafka_bootstrap} reachable (PLAINTEXT)"
    assert lines["input"] == (
        f"{topic} (3 partitions), group shop-capi, from earliest when the group has no offsets"
    )
    assert lines["results"] == f"{topic}-results (1 partitions)"
    assert lines["dead letters"] == f"{topic}-dlq (1 partitions)"
    assert lines["spotify"] == (
        f"POST {sandbox.url}, connection id …{DEFAULT_CONNECTION_ID[-4:]}, token set "
        "(never shown) and sendable, timeout 15 s; reachable"
    )
    assert DEFAULT_TOKEN not in out
    assert DEFAULT_CONNECTION_ID not in out
    assert lines["health"].startswith("http://0.0.0.0:8080 /healthz /startupz /readyz /metrics")
    assert lines["consent"] == "no rule: every event is sent"
    assert lines["fields"].startswith(
        "all the table maps: event_id, event_name, event_time, opt_out_targeting, user_data, "
        "action_source, event_source_url, event_details.amount,"
    )


def test_the_consent_rule_and_the_fields_that_leave_are_printed(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    privacy = {
        "consent": {"property": "onetrust_groups", "category": "C0004", "on_missing": "send"},
        "allowed_fields": ["user_data.hashed_emails", "event_details.content_name"],
    }
    with SandboxThread() as sandbox:
        code, out, err = _check_with_topics(
            capsys, tmp_path, kafka_bootstrap, spotify={"url": sandbox.url}, transform=privacy
        )
    assert (code, err) == (0, "")
    lines = {line[:14].strip(): line[14:] for line in out.splitlines()}
    assert lines["consent"] == (
        "'onetrust_groups' grants when category 'C0004' present; denied: drop, missing: send"
    )
    assert lines["fields"] == (
        "transform.allowed_fields: event_id, event_name, event_time, opt_out_targeting, "
        "user_data, event_details.content_name, user_data.hashed_emails"
    )
    code, out, err = _check_with_topics(
        capsys, tmp_path, kafka_bootstrap, transform={"allowed_fields": ["user_data.email"]}
    )
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert (
        "transform.allowed_fields: Value error, unknown Spotify fields ['user_data.email']" in err
    )


def test_every_connection_is_listed_checked_and_reached(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    globex = {"token": "globex-token", "connection_id": "globex-connection-1234"}
    routing = {"by": "property", "property": "brand", "routes": {"globex": "globex"}}
    with SandboxThread() as sandbox:
        code, out, err = _check_with_topics(
            capsys,
            tmp_path,
            kafka_bootstrap,
            spotify={"url": sandbox.url, "connections": {"globex": globex}},
            routing=routing,
        )
        requests = sandbox.state.stats().requests_total
    assert (code, err, requests) == (0, "", 0)
    spotify = [line[14:] for line in out.splitlines() if line.startswith("spotify ")]
    assert spotify == [
        f"default: POST {sandbox.url}, connection id …{DEFAULT_CONNECTION_ID[-4:]}, token set "
        "(never shown) and sendable, timeout 15 s; reachable",
        f"globex: POST {sandbox.url}, connection id …1234, token set "
        "(never shown) and sendable, timeout 15 s; reachable",
    ]
    routed = [line[14:] for line in out.splitlines() if line.startswith("routing ")]
    assert routed == ["by property brand: globex → globex; otherwise default"]
    assert "globex-token" not in out
    unsendable = {"globex": {**globex, "token": "two words"}}
    code, _, err = _check_with_topics(
        capsys, tmp_path, kafka_bootstrap, spotify={"connections": unsendable}, routing=routing
    )
    assert code == 2
    assert "spotify.connections.globex.token cannot be sent in an HTTP header" in err
    assert "two words" not in err


def test_problems_give_one_line_and_a_non_zero_exit(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"check-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, topic, f"{topic}-results", partitions=1)  # no DLQ topic
    config = _config(tmp_path, kafka_bootstrap, topic)
    code, out, err = _check(capsys, config)
    assert (code, out) == (3, f"settings      valid ({config})\n")  # what passed, then the problem
    assert err == (
        f"spotify-capi-connector check-config: topics missing on {kafka_bootstrap}: {topic}-dlq\n"
    )
    code, _, err = _check(capsys, _config(tmp_path, kafka_bootstrap, topic, sink={"batch_size": 0}))
    assert code == 2
    assert err.count("\n") == 1
    assert "sink.batch_size" in err
    no_token = _config(tmp_path, kafka_bootstrap, topic, spotify={"token": ""})
    code, _, err = _check(capsys, no_token)
    assert (code, err.count("\n")) == (2, 1)
    assert "spotify.token: Value error, is blank" in err


def test_an_unreachable_schema_registry_is_reported(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = {"format": "confluent", "schema_registry_url": "http://127.0.0.1:9"}
    code, out, err = _check_with_topics(capsys, tmp_path, kafka_bootstrap, decode=registry)
    assert code == 3
    assert "input" in out  # Kafka was checked first
    assert err == (
        "spotify-capi-connector check-config: cannot reach the Schema Registry at "
        "http://127.0.0.1:9: ConnectError\n"
    )


def _sections(out: str) -> list[str]:
    return [line[:14].strip() for line in out.splitlines()]


def test_spotify_is_reached_with_the_tls_trust_run_would_use(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = shared_tls()
    https = SandboxSettings(tls_cert=tls.cert_pem, tls_key=tls.key_pem)
    with SandboxThread(https) as sandbox:
        port = urlsplit(sandbox.url).port
        trusted = {"url": sandbox.url, "ca_bundle": str(tls.ca_pem)}
        code, out, err = _check_with_topics(capsys, tmp_path, kafka_bootstrap, spotify=trusted)
        assert (code, err) == (0, "")
        spotify_line = out.splitlines()[_sections(out).index("spotify")]
        assert spotify_line.endswith(
            f"{sandbox.url}, connection id …{DEFAULT_CONNECTION_ID[-4:]}, "
            "token set (never shown) and sendable, timeout 15 s; reachable, certificate verified"
        )
        # The same endpoint without the CA: refused, as `run` would be refused.
        untrusted = {"url": sandbox.url}
        code, out, err = _check_with_topics(capsys, tmp_path, kafka_bootstrap, spotify=untrusted)
        assert (code, err) == (
            3,
            f"spotify-capi-connector check-config: cannot reach Spotify at 127.0.0.1:{port}: "
            "certificate not trusted (unable to get local issuer certificate)\n",
        )
        # What passed, then the problem.
        assert _sections(out) == ["settings", "kafka", "input", "results", "dead letters", "decode"]
        assert sandbox.state.stats().requests_total == 0


def test_an_unreachable_spotify_is_one_line_and_exit_3(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = "http://127.0.0.1:9/capi-direct/events/"
    code, _, err = _check_with_topics(capsys, tmp_path, kafka_bootstrap, spotify={"url": refused})
    assert (code, err) == (
        3,
        "spotify-capi-connector check-config: cannot reach Spotify at 127.0.0.1:9: "
        "Connection refused\n",
    )
    unknown = "https://capi.invalid/capi-direct/events/"
    code, _, err = _check_with_topics(capsys, tmp_path, kafka_bootstrap, spotify={"url": unknown})
    assert code == 3
    assert err.startswith(
        "spotify-capi-connector check-config: cannot reach Spotify at capi.invalid:443: "
        "name not resolved ("
    )
    assert err.count("\n") == 1
    assert DEFAULT_TOKEN not in err
