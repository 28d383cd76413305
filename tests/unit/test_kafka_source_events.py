"""The source reports "all brokers down" as its own event, not as a KafkaError."""

from __future__ import annotations

import socket
import time

from connector.config import KafkaSettings
from connector.kafka.source import KafkaSource
from connector.offsets import Commit
from connector.ports import Partitions


class Listener:
    def __init__(self) -> None:
        self.brokers_down_calls = 0

    def assigned(self, partitions: Partitions) -> None:
        raise AssertionError("nothing to assign without a broker")

    def revoked(self, partitions: Partitions) -> None:
        raise AssertionError("nothing to revoke without a broker")

    def lost(self, partitions: Partitions) -> None:
        raise AssertionError("nothing to lose without a broker")

    def committed(self, commits: list[Commit]) -> None:
        raise AssertionError("nothing to commit without a broker")

    def commit_failed(self) -> None:
        raise AssertionError("nothing to commit without a broker")

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
