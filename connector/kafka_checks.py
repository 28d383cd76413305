"""Start-up checks against Kafka: reachable, and the topics the connector needs exist."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from connector.config import KafkaSettings
from connector.errors import KafkaUnavailable


def check_topics(settings: KafkaSettings, timeout_s: float = 30.0) -> dict[str, int]:
    """Partition counts of the input, results and dead-letter topics, or KafkaUnavailable."""
    admin = AdminClient({**settings.client_config(), "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # KafkaException: transport, auth, timeout
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}"
        ) from None
    wanted = [settings.input_topic, settings.results_topic, settings.dlq_topic]
    missing = [name for name in wanted if name not in metadata.topics]
    if missing:
        raise KafkaUnavailable(
            f"topics missing on {settings.bootstrap_servers}: {', '.join(missing)}"
        )
    return {name: len(metadata.topics[name].partitions) for name in wanted}
