"""Kafka administration: the start-up topic check, and the offset ranges the commands read.

`check_topics`: reachable, and the topics the connector needs exist. `topic_ranges` and
`read_range`: what `report` and `replay` read. `start_group_at`: where `replay`'s group begins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from connector.config import KafkaSettings
from connector.errors import KafkaUnavailable
from connector.kafka.client_config import client_config, tool_consumer_config

# Per partition: (first offset to read, end offset when the range was taken).
Ranges = dict[int, tuple[int, int]]


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
    wanted = [*settings.named_input_topics, settings.results_topic, settings.dlq_topic]
    missing = [name for name in wanted if name not in metadata.topics]
    if missing:
        raise KafkaUnavailable(
            f"topics missing on {settings.bootstrap_servers}: {', '.join(missing)}"
        )
    return {name: len(metadata.topics[name].partitions) for name in wanted}


def topic_ranges(
    consumer: Consumer, topic: str, since_ms: int | None, margin_ms: int = 0
) -> Ranges:
    """Per partition: (first offset to read, end offset now). Raises KafkaException."""
    metadata = consumer.list_topics(topic, timeout=30)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        raise KafkaUnavailable(f"topic {topic} does not exist")
    ranges = {}
    for partition in sorted(described.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        ranges[partition] = (low, high)
    if since_ms is not None:
        wanted = [TopicPartition(topic, p, max(0, since_ms - margin_ms)) for p in ranges]
        for found in consumer.offsets_for_times(wanted, timeout=30):
            low, high = ranges[found.partition]
            ranges[found.partition] = (high if found.offset < 0 else max(low, found.offset), high)
    return ranges


def start_group_at(settings: KafkaSettings, since_ms: int | None) -> Ranges:
    """Commit the start offsets of the input topic (its beginning, or `since_ms`) for the group;
    the ranges to read. KafkaUnavailable if the group cannot be set (say, it is in use)."""
    consumer = Consumer(tool_consumer_config(settings, settings.group_id))
    topic = settings.input_topic
    try:
        ranges = topic_ranges(consumer, topic, since_ms)
        starts = [TopicPartition(topic, p, s) for p, (s, _) in ranges.items()]
        consumer.commit(offsets=starts, asynchronous=False)
    except KafkaException as exc:
        raise KafkaUnavailable(
            f"cannot prepare group {settings.group_id} on {topic} "
            f"(is another replay running?): {exc}"
        ) from None
    finally:
        consumer.close()
    return ranges


def read_range(
    settings: KafkaSettings,
    topic: str,
    group_id: str,
    *,
    since_ms: int | None,
    margin_ms: int,
    on_start: Callable[[int], None] = lambda _total: None,
    on_read: Callable[[int], object] = lambda _count: None,
) -> Iterator[bytes]:
    """The values of `topic` from `since_ms` (less `margin_ms`; the start without) up to its end
    offsets when the read began. `on_start` hears the number of offsets in range, `on_read` the
    number of messages of each fetch."""
    consumer = Consumer(tool_consumer_config(settings, group_id))
    try:
        try:
            ranges = topic_ranges(consumer, topic, since_ms, margin_ms)
        except KafkaException as exc:
            raise KafkaUnavailable(f"cannot read {topic}: {exc}") from None
        remaining = {p: end for p, (start, end) in ranges.items() if start < end}
        on_start(sum(end - start for start, end in ranges.values()))
        if not remaining:
            return
        consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in sorted(remaining)])
        while remaining:
            messages = consumer.consume(1000, timeout=1.0)
            for message in messages:
                if message.error() is not None:
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                end = remaining.get(partition)
                if end is None or offset >= end:
                    continue
                yield message.value() or b""
            on_read(len(messages))
            _drop_finished(consumer, topic, remaining)
    finally:
        consumer.close()


def _drop_finished(consumer: Consumer, topic: str, remaining: dict[int, int]) -> None:
    """Forget partitions whose read position reached their end offset (gaps included)."""
    positions = consumer.position([TopicPartition(topic, p) for p in remaining])
    for tp in positions:
        if tp.offset >= remaining[tp.partition]:
            del remaining[tp.partition]
