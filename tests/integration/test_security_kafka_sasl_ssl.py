"""Kafka over SASL_SSL: SCRAM-SHA-512 credentials and a broker certificate verified against a local
CA. The connector delivers; a wrong password or a missing CA is refused with a clear error and
nothing is consumed, so nothing is lost; secrets may come from files; canaries never leak.
"""

from __future__ import annotations

import logging
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from capi_devtools.localinfra.kafka import SCRAM_MECHANISM, KafkaBroker, SaslSsl, free_port
from capi_devtools.sandbox import SandboxSettings, SandboxThread
from connector.config import KafkaSettings, Settings
from connector.errors import KafkaUnavailable
from connector.kafka.admin import check_topics
from connector.process.logs import JsonFormatter
from tests.reliability.canary import (
    CANARY_PASSWORD,
    CANARY_TOKEN,
    canary_records,
    leaks,
    refused_indexes,
    shared_tls,
)
from tests.reliability.support import make_topics, read_to_end, wait_until_committed
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.kafka import committed_and_end_offsets, header_map, produce_events
from tests.support.process import ConnectorProcess, connector_env

pytestmark = pytest.mark.integration

USER = "capi-connector"
WRONG_PASSWORD = "wrong-canary-8c2e-password"
PARTITIONS = 2


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[KafkaBroker]:
    """A broker of its own with a SASL_SSL listener beside the PLAINTEXT one (used for setup)."""
    with KafkaBroker(sasl_ssl=SaslSsl(shared_tls(), {USER: CANARY_PASSWORD})) as broker:
        yield broker


def _secure(broker: KafkaBroker, settings: Settings, password: str, *, ca: bool = True) -> Settings:
    kafka = settings.kafka.model_copy(
        update={
            "bootstrap_servers": broker.sasl_ssl_bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_username": USER,
            "sasl_password": SecretStr(password),
            "ssl_ca_location": str(shared_tls().ca_pem) if ca else None,
        }
    )
    return settings.model_copy(update={"kafka": KafkaSettings.model_validate(kafka.model_dump())})


def _sandbox() -> SandboxThread:
    return SandboxThread(SandboxSettings(tokens=(SecretStr(CANARY_TOKEN),)))


def _expected_ids(count: int) -> set[str]:
    return {f"order-{i:07d}" for i in range(count) if i not in refused_indexes(count)}


def _no_leaks_in_outputs(broker: KafkaBroker, topic: str, texts: list[str]) -> None:
    for text in texts:
        assert leaks(text) == []
    for result in read_to_end(broker.bootstrap, f"{topic}-results"):
        assert leaks(result.value() or b"") == []
    dead_letters = read_to_end(broker.bootstrap, f"{topic}-dlq")
    assert dead_letters, "the refused canary events were dead-lettered"
    for message in dead_letters:
        for name, value in header_map(message).items():
            assert leaks(name) == leaks(value) == []
        assert leaks(message.value() or b"") != []  # the original record: PII by design


def test_the_connector_delivers_over_sasl_ssl_with_verified_tls(
    secure_broker: KafkaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    total = 200
    topic = make_topics(secure_broker.bootstrap, PARTITIONS)
    produce_events(secure_broker.bootstrap, topic, canary_records(total), partitions=PARTITIONS)
    with _sandbox() as sandbox:
        plain = connector_settings(secure_broker.bootstrap, topic, sandbox.url, token=CANARY_TOKEN)
        settings = _secure(secure_broker, plain, CANARY_PASSWORD)
        assert check_topics(settings.kafka) == {topic: 2, f"{topic}-results": 1, f"{topic}-dlq": 1}
        with ConnectorThread(settings) as connector:
            results = connector.wait_for_results(total)
            wait_until_committed(
                secure_broker.bootstrap, settings.kafka.group_id, topic, PARTITIONS, 60
            )
        accepted = sandbox.state.accepted_ids()
    assert set(accepted) == _expected_ids(total)
    assert {r.status.value for r in results} == {"DELIVERED", "REJECTED_TRANSFORM"}
    logs = [JsonFormatter().format(record) for record in caplog.records]  # with their extras
    texts = [*logs, *(repr(r) for r in results), repr(settings)]
    _no_leaks_in_outputs(secure_broker, topic, texts)


def test_a_wrong_password_is_refused_clearly_and_nothing_is_lost(
    secure_broker: KafkaBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    total = 50
    topic = make_topics(secure_broker.bootstrap, PARTITIONS)
    produce_events(secure_broker.bootstrap, topic, canary_records(total), partitions=PARTITIONS)
    with _sandbox() as sandbox:
        plain = connector_settings(secure_broker.bootstrap, topic, sandbox.url, token=CANARY_TOKEN)
        wrong = _secure(secure_broker, plain, WRONG_PASSWORD)

        # `run` checks Kafka first: it exits with code 3 and says why.
        process = ConnectorProcess(_run_env(wrong, tmp_path), tmp_path / "wrong.log")
        assert process.process.wait(90) == 3
        process.terminate()
        output = (tmp_path / "wrong.log").read_text()
        assert "SASL authentication error" in output
        assert "invalid credentials" in output
        assert WRONG_PASSWORD not in output

        # A pipeline already running when its password stops working: not ready, consumes nothing.
        caplog.set_level(logging.WARNING)
        with ConnectorThread(wrong) as connector:
            deadline = time.monotonic() + 30
            while not connector.pipeline.status.broker_down and time.monotonic() < deadline:
                time.sleep(0.1)
            status = connector.pipeline.status
            assert (status.broker_down, status.consumed, connector.results) == (True, 0, [])
        errors = " ".join(str(getattr(r, "error", "")) for r in caplog.records)
        assert "invalid credentials" in errors  # the log says why (in its `error` field)
        assert WRONG_PASSWORD not in errors + caplog.text
        committed, _ends = committed_and_end_offsets(
            secure_broker.bootstrap, wrong.kafka.group_id, topic, PARTITIONS
        )
        assert committed == [-1001, -1001]  # nothing committed: nothing skipped

        # The right password: every event of the same group is delivered.
        with ConnectorThread(_secure(secure_broker, plain, CANARY_PASSWORD)) as connector:
            connector.wait_for_results(total)
        assert set(sandbox.state.accepted_ids()) == _expected_ids(total)


def test_without_the_ca_the_broker_certificate_is_refused(secure_broker: KafkaBroker) -> None:
    topic = make_topics(secure_broker.bootstrap, 1)
    plain = connector_settings(secure_broker.bootstrap, topic, "http://127.0.0.1:9/")
    with pytest.raises(KafkaUnavailable, match="certificate verify failed"):
        check_topics(_secure(secure_broker, plain, CANARY_PASSWORD, ca=False).kafka, 10)


def test_run_reads_its_secrets_from_files_and_its_metrics_stay_clean(
    secure_broker: KafkaBroker, tmp_path: Path
) -> None:
    total = 100
    topic = make_topics(secure_broker.bootstrap, PARTITIONS)
    produce_events(secure_broker.bootstrap, topic, canary_records(total), partitions=PARTITIONS)
    with _sandbox() as sandbox:
        plain = connector_settings(secure_broker.bootstrap, topic, sandbox.url, token=CANARY_TOKEN)
        settings = _secure(secure_broker, plain, CANARY_PASSWORD)
        port = free_port()
        env = _run_env(settings, tmp_path, health_port=port)
        assert CANARY_PASSWORD not in env.values()
        assert CANARY_TOKEN not in env.values()
        process = ConnectorProcess(env, tmp_path / "run.log")
        try:
            wait_until_committed(
                secure_broker.bootstrap, settings.kafka.group_id, topic, PARTITIONS, 90
            )
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                metrics = answer.read().decode()
        finally:
            assert process.terminate() == 0
        accepted = sandbox.state.accepted_ids()
    assert set(accepted) == _expected_ids(total)
    assert "spotify_capi_events_delivered_total" in metrics
    log = (tmp_path / "run.log").read_text()
    _no_leaks_in_outputs(secure_broker, topic, [metrics, log])


def _run_env(settings: Settings, folder: Path, *, health_port: int = 0) -> dict[str, str]:
    """`run`'s environment with the password and the token as mounted secret files."""
    secrets = folder / f"secrets-{uuid.uuid4().hex[:6]}"
    secrets.mkdir()
    password = settings.kafka.sasl_password
    token = settings.spotify.token
    assert password is not None
    assert token is not None
    (secrets / "kafka-sasl-password").write_text(password.get_secret_value() + "\n")
    (secrets / "spotify-capi-token").write_text(token.get_secret_value() + "\n")
    env = connector_env(
        settings,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM=SCRAM_MECHANISM,
        KAFKA_SASL_USERNAME=settings.kafka.sasl_username or "",
        KAFKA_SSL_CA_LOCATION=settings.kafka.ssl_ca_location or "",
        KAFKA_SASL_PASSWORD_FILE=str(secrets / "kafka-sasl-password"),
        SPOTIFY_CAPI_TOKEN_FILE=str(secrets / "spotify-capi-token"),
        CONNECTOR_TELEMETRY__HEALTH_HOST="127.0.0.1",
        CONNECTOR_TELEMETRY__HEALTH_PORT=str(health_port),
    )
    del env["SPOTIFY_CAPI_TOKEN"]  # the file, not the variable
    return env
