"""Session fixtures shared by every test folder: the real Kafka broker, topics, group ids; and the
root logger given back after each test (the commands configure it as in production)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from capi_devtools.localinfra import KafkaBroker


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One real broker for the whole session, started on first use and removed at the end."""
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Make a topic with a unique name for this test: `new_topic(partitions=3)`."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def make(prefix: str = "t", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)
        futures[name].result(timeout=30)
        return name

    return make


@pytest.fixture
def group_id() -> str:
    return f"group-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def schema_registry() -> Iterator[str]:
    """A real Confluent-compatible Schema Registry (Apicurio) for the session: its base URL."""
    from capi_devtools.localinfra.registry import SchemaRegistry

    with SchemaRegistry() as registry:
        yield registry.url
