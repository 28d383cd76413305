"""The source reports "all brokers down" as its own event, not as a KafkaError; a commit refused
because of a rebalance is expected and logged at INFO, any other refusal at WARNING."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from confluent_kafka import KafkaError

from connector.config import KafkaSettings
from connector.kafka.source import KafkaSource
from connector.offsets import Commit
from connector.ports import Partitions


class Listener:
    def __init__(self) -> None:
        self.brokers_down_calls = 0
        self.commit_failures = 0

    def assigned(self, partitions: Partitions) -> None:
        raise AssertionError("nothing to assign without a broker")

    def revoked(self, partitions: Partitions) -> None:
        raise AssertionError("nothing to revoke without a broker")

    def lost(self, partitions: Partitions) -> None:
        raise AssertionError("nothing to lose without a broker")

    def committed(self, commits: list[Commit]) -> None:
        raise AssertionError("nothing to commit without a broker")

    def commit_failed(self) -> None:
        self.commit_failures += 1

    def brokers_down(self) -> None:
        self.brokers_down_calls += 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_source_whose_only_broker_is_unreachable_reports_brokers_down() -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed_port()}", input_topic="events")
    source = KafkaSource(settings)
    listener = Listener()
    source.start(listener)
    try:
        deadline = time.monotonic() + 20
        while listener.brokers_down_calls == 0 and time.monotonic() < deadline:
            assert source.poll(10, 0.1) == []
    finally:
        source.close()
    assert listener.brokers_down_calls >= 1


@pytest.mark.parametrize(
    ("code", "level"),
    [
        (KafkaError.ILLEGAL_GENERATION, logging.INFO),
        (KafkaError.REBALANCE_IN_PROGRESS, logging.INFO),
        (KafkaError.STALE_MEMBER_EPOCH, logging.INFO),
        (KafkaError.COORDINATOR_NOT_AVAILABLE, logging.WARNING),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, logging.WARNING),
    ],
)
def test_a_refused_commit_is_counted_and_logged_by_its_cause(
    code: int, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed_port()}", input_topic="events")
    source = KafkaSource(settings)
    listener = Listener()
    source.start(listener)
    try:
        with caplog.at_level(logging.INFO, logger="connector.kafka.source"):
            source._acknowledged(KafkaError(code), [])  # what librdkafka calls: on_commit
    finally:
        source.close()
    assert listener.commit_failures == 1
    refusals = [r for r in caplog.records if r.getMessage() == "commit failed; it will be retried"]
    assert [r.levelno for r in refusals] == [level]
