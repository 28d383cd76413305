"""TLS to the Spotify endpoint is verified: the sandbox over HTTPS with a local CA is trusted
only through `spotify.ca_bundle`; without it no request reaches the server, and each event is
dead-lettered as retry_exhausted (a transport failure), never lost. Plain http:// is refused
unless the host is loopback or `spotify.allow_insecure_http` says so. Canaries never leak.
"""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from pydantic import SecretStr, ValidationError

from capi_devtools.sandbox import SandboxSettings, SandboxThread
from connector.config import Settings, SinkSettings
from connector.process.logs import JsonFormatter
from tests.reliability.canary import (
    CANARY_EMAIL,
    CANARY_PASSWORD,
    CANARY_PHONE,
    CANARY_TOKEN,
    canary_records,
    leaks,
    refused_indexes,
    shared_tls,
)
from tests.reliability.support import make_topics, read_to_end, wait_until_committed
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.kafka import header_map, produce_events

pytestmark = pytest.mark.integration

TOTAL = 60


def _https_sandbox() -> SandboxThread:
    tls = shared_tls()
    return SandboxThread(
        SandboxSettings(
            tokens=(SecretStr(CANARY_TOKEN),), tls_cert=tls.cert_pem, tls_key=tls.key_pem
        )
    )


def _with_ca_bundle(settings: Settings, *, trusted: bool) -> Settings:
    spotify = settings.spotify.model_copy(
        update={"ca_bundle": shared_tls().ca_pem if trusted else None}
    )
    return settings.model_copy(update={"spotify": spotify})


def test_the_canary_check_can_fail() -> None:
    for secret in (CANARY_EMAIL, CANARY_EMAIL.lower(), CANARY_PHONE, CANARY_TOKEN, CANARY_PASSWORD):
        assert leaks(f"some text {secret} more text") != []
    assert leaks("4155550187") != []  # the phone as digits
    assert leaks("order-0000001 DELIVERED 200") == []


def test_https_with_the_ca_bundle_delivers(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    topic = make_topics(kafka_bootstrap, 1)
    produce_events(kafka_bootstrap, topic, canary_records(TOTAL))
    with _https_sandbox() as sandbox:
        assert sandbox.url.startswith("https://127.0.0.1:")
        plain = connector_settings(kafka_bootstrap, topic, sandbox.url, token=CANARY_TOKEN)
        settings = _with_ca_bundle(plain, trusted=True)
        with ConnectorThread(settings) as connector:
            results = connector.wait_for_results(TOTAL)
            wait_until_committed(kafka_bootstrap, settings.kafka.group_id, topic, 1, 60)
        accepted = sandbox.state.accepted_ids()
    refused = refused_indexes(TOTAL)
    assert set(accepted) == {f"order-{i:07d}" for i in range(TOTAL) if i not in refused}
    statuses = Counter(r.status.value for r in results)
    assert statuses == {"DELIVERED": TOTAL - len(refused), "REJECTED_TRANSFORM": len(refused)}
    texts: list[str | bytes] = [JsonFormatter().format(r) for r in caplog.records]
    texts += [repr(r) for r in results]
    texts += [m.value() or b"" for m in read_to_end(kafka_bootstrap, f"{topic}-results")]
    for text in texts:
        assert leaks(text) == []


def test_https_without_the_ca_bundle_never_reaches_the_server(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    topic = make_topics(kafka_bootstrap, 1)
    produce_events(kafka_bootstrap, topic, canary_records(TOTAL))
    with _https_sandbox() as sandbox:
        plain = connector_settings(
            kafka_bootstrap,
            topic,
            sandbox.url,
            token=CANARY_TOKEN,
            sink=SinkSettings(max_attempts=2, backoff_initial_s=0.05, backoff_max_s=0.1),
        )
        settings = _with_ca_bundle(plain, trusted=False)
        with ConnectorThread(settings) as connector:
            results = connector.wait_for_results(TOTAL)
            wait_until_committed(kafka_bootstrap, settings.kafka.group_id, topic, 1, 60)
        stats = sandbox.state.stats()
    assert stats.requests_total == 0  # the TLS handshake failed: no request, no token sent
    refused = refused_indexes(TOTAL)
    by_status = Counter(r.status.value for r in results)
    assert by_status == {
        "RETRY_EXHAUSTED": TOTAL - len(refused),
        "REJECTED_TRANSFORM": len(refused),
    }
    exhausted = [r for r in results if r.status.value == "RETRY_EXHAUSTED"]
    assert {(r.http_status, r.error_code) for r in exhausted} == {(None, "retry_exhausted")}
    assert all("CERTIFICATE_VERIFY_FAILED" in (r.error_message or "") for r in exhausted)
    dead_letters = read_to_end(kafka_bootstrap, f"{topic}-dlq")
    reasons = Counter(header_map(m)["capi.error.reason"].decode() for m in dead_letters)
    assert reasons == {"retry_exhausted": TOTAL - len(refused), "no_user_identifier": len(refused)}
    for message in dead_letters:
        assert all(leaks(k) == leaks(v) == [] for k, v in header_map(message).items())
    for text in [JsonFormatter().format(r) for r in caplog.records]:
        assert leaks(text) == []


def test_the_sandbox_needs_both_certificate_and_key_and_keeps_them_while_running() -> None:
    tls = shared_tls()
    with pytest.raises(ValidationError, match="tls_cert and tls_key go together"):
        SandboxSettings(tls_cert=tls.cert_pem)
    with _https_sandbox() as sandbox:
        assert sandbox.url.startswith("https://")
        assert sandbox.admin_url.startswith("http://127.0.0.1:")  # admin stays plain, loopback
        with pytest.raises(ValueError, match="cannot change while running: tls_cert"):
            sandbox.configure(tls_cert=None)
