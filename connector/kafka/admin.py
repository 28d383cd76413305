"""Kafka administration: the start-up topic check, and the offset ranges the commands read.

`check_topics`: reachable, and the topics the connector needs exist. `topic_ranges` and
`read_range`: what `report` and `replay` read. `start_group_at`: where `replay`'s group begins.
`time_ranges`, `resume_group_at` and `read_offsets`: the offsets of a time range in each partition
of some topics, where `backfill`'s group begins (or resumes) in them, and reading them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from connector.config import KafkaSettings
from connector.errors import KafkaUnavailable
from connector.kafka.client_config import client_config, tool_consumer_config
from connector.kafka.source import source_record
from connector.models import SourceRecord

# Per partition: (first offset to read, end offset when the range was taken).
Ranges = dict[int, tuple[int, int]]
# Per partition of some topics: [first offset, end offset).
TopicRanges = dict[tuple[str, int], tuple[int, int]]


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


def time_ranges(
    settings: KafkaSettings, topics: Sequence[str], from_ms: int, to_ms: int
) -> TopicRanges:
    """Per partition of `topics`: [the first offset whose record time is at or after `from_ms`,
    the first at or after `to_ms`), each the end offset when there is none."""
    consumer = Consumer(tool_consumer_config(settings, f"{settings.group_id}-ranges"))
    ranges: TopicRanges = {}
    try:
        for topic in topics:
            for partition, (start, end) in topic_ranges(consumer, topic, from_ms).items():
                ranges[(topic, partition)] = (start, end)
            wanted = [TopicPartition(topic, p, to_ms) for (t, p) in ranges if t == topic]
            for found in consumer.offsets_for_times(wanted, timeout=30):
                start, end = ranges[(topic, found.partition)]
                if found.offset >= 0:
                    ranges[(topic, found.partition)] = (start, max(start, min(end, found.offset)))
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot read the offsets of {', '.join(topics)}: {exc}") from None
    finally:
        consumer.close()
    return ranges


def resume_group_at(
    settings: KafkaSettings,
    group_id: str,
    ranges: TopicRanges,
    *,
    wait_s: float = 60.0,
    on_wait: Callable[[str], object] = lambda _line: None,
) -> TopicRanges:
    """Commit, for `group_id`, where it goes on in each range: its own committed offset when it
    has one (held within the range), else the range's start. The ranges left to read.

    A member of an earlier run that stopped without leaving (killed) holds the group until its
    session expires: the commit is tried again for up to `wait_s`, `on_wait` told once."""
    consumer = Consumer(tool_consumer_config(settings, group_id))
    deadline = time.monotonic() + wait_s
    told = False
    try:
        while True:
            try:
                return _commit_positions(consumer, ranges)
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() not in _GROUP_BUSY or time.monotonic() >= deadline:
                    raise KafkaUnavailable(
                        f"cannot prepare group {group_id} (is the same backfill running?): {exc}"
                    ) from None
                if not told:
                    on_wait(
                        f"group {group_id} still has a member (an earlier run that did not "
                        "leave?): waiting for its session to expire"
                    )
                    told = True
                time.sleep(1.0)
    finally:
        consumer.close()


# What a commit from outside the group meets while a member still holds it.
_GROUP_BUSY = frozenset(
    {
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
    }
)


def _commit_positions(consumer: Consumer, ranges: TopicRanges) -> TopicRanges:
    asked = [TopicPartition(t, p) for (t, p) in ranges]
    committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(asked, 30)}
    left: TopicRanges = {}
    for key, (start, end) in ranges.items():
        offset = committed.get(key, -1)
        left[key] = (start if offset < 0 else min(max(offset, start), end), end)
    positions = [TopicPartition(t, p, start) for (t, p), (start, _) in left.items()]
    if positions:
        consumer.commit(offsets=positions, asynchronous=False)
    return left


def read_offsets(
    settings: KafkaSettings,
    group_id: str,
    ranges: TopicRanges,
    on_read: Callable[[int], object] = lambda _count: None,
) -> Iterator[SourceRecord]:
    """The records of `ranges`, read without committing; `on_read` hears the number of
    messages of each fetch."""
    remaining = {key: end for key, (start, end) in ranges.items() if start < end}
    if not remaining:
        return
    consumer = Consumer(tool_consumer_config(settings, group_id))
    try:
        consumer.assign([TopicPartition(t, p, ranges[(t, p)][0]) for (t, p) in sorted(remaining)])
        while remaining:
            messages = consumer.consume(1000, timeout=1.0)
            now_ms = time.time_ns() // 1_000_000
            for message in messages:
                if message.error() is not None:
                    continue
                key = (message.topic() or "", message.partition() or 0)
                end = remaining.get(key)
                if end is not None and (message.offset() or 0) < end:
                    yield source_record(message, now_ms)
            on_read(len(messages))
            _drop_finished(consumer, remaining)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot read the range: {exc}") from None
    finally:
        consumer.close()


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
        ranges = topic_ranges(consumer, topic, since_ms, margin_ms)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot read {topic}: {exc}") from None
    finally:
        consumer.close()
    on_start(sum(end - start for start, end in ranges.values()))
    spans = {(topic, partition): span for partition, span in ranges.items()}
    for record in read_offsets(settings, group_id, spans, on_read):
        yield record.value or b""


def _drop_finished(consumer: Consumer, remaining: dict[tuple[str, int], int]) -> None:
    """Forget partitions whose read position reached their end offset (gaps included)."""
    for tp in consumer.position([TopicPartition(t, p) for (t, p) in remaining]):
        if tp.offset >= remaining[(tp.topic, tp.partition)]:
            del remaining[(tp.topic, tp.partition)]
