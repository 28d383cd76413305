"""Start-up checks against Kafka: reachable, and the topics the connector needs exist."""

from __future__ import annotations

from typing import Any

from confluent_kafka.admin import AdminClient

from connector.config import KafkaSettings
from connector.errors import KafkaUnavailable
from connector.kafka_client import client_config


def check_topics(settings: KafkaSettings, timeout_s: float = 30.0) -> dict[str, int]:
    """Partition counts of the input, results and dead-letter topics, or KafkaUnavailable."""
    # The client's own account of a failure ("SASL authentication error: ...", "SSL handshake
    # failed: ... certificate verify failed") says more than the "Broker transport failure" raised.
    errors: list[str] = []
    config: dict[str, Any] = {**client_config(settings), "log_level": 0}
    config["error_cb"] = lambda error: errors.append(error.str())
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # KafkaException: transport, auth, timeout
        admin.poll(0)  # serve error_cb
        reason = errors[-1] if errors else str(exc)
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {reason}"
        ) from None
    wanted = [settings.input_topic, settings.results_topic, settings.dlq_topic]
    missing = [name for name in wanted if name not in metadata.topics]
    if missing:
        raise KafkaUnavailable(
            f"topics missing on {settings.bootstrap_servers}: {', '.join(missing)}"
        )
    return {name: len(metadata.topics[name].partitions) for name in wanted}
