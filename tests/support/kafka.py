"""Test helpers around the real broker: produce, read back, compare offsets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connector.schemas import avro


def create_topics(
    bootstrap: str, *names: str, partitions: int = 1, config: dict[str, str] | None = None
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(n, partitions, 1, config=config or {}) for n in names]
    futures = admin.create_topics(topics, operation_timeout=30)
    for future in futures.values():
        future.result(timeout=30)


def connector_topics(bootstrap: str, partitions: int = 1) -> str:
    """A fresh input topic, with the `-results` and `-dlq` topics connector_settings names."""
    name = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, name, partitions=partitions)
    create_topics(bootstrap, f"{name}-results", f"{name}-dlq")
    return name


def produce(
    bootstrap: str, topic: str, values: Iterable[bytes | None], *, partitions: int = 1
) -> int:
    """Write values round-robin over partitions, keyed by index; returns how many.

    Idempotent, so a batch retried after the fresh topic's first NOT_LEADER answer cannot land
    behind a later one: tests rely on a record's offset being its index in its partition.
    """
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    count = 0
    for index, value in enumerate(values):
        producer.produce(topic, value=value, key=str(index).encode(), partition=index % partitions)
        count += 1
        if count % 10_000 == 0:
            producer.flush(30)
    assert producer.flush(60) == 0
    return count


def produce_events(
    bootstrap: str, topic: str, records: Iterable[dict[str, Any]], *, partitions: int = 1
) -> int:
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    return produce(
        bootstrap, topic, (avro.encode(schema, r) for r in records), partitions=partitions
    )


def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Message]:
    """Every record of a topic, up to its end offsets once at least `expected` records exist."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    deadline = time.monotonic() + timeout_s
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=20).topics[topic].partitions)
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = [consumer.get_watermark_offsets(tp, timeout=20)[1] for tp in tps]
        while sum(ends) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            ends = [consumer.get_watermark_offsets(tp, timeout=20)[1] for tp in tps]
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        messages: list[Message] = []
        while len(messages) < sum(ends) and time.monotonic() < deadline:
            messages.extend(
                m
                for m in consumer.consume(1000, timeout=0.5)
                if m.error() is None and (m.offset() or 0) < ends[m.partition() or 0]
            )
    finally:
        consumer.close()
    return messages


def read_results(bootstrap: str, topic: str, expected: int) -> list[dict[str, Any]]:
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    return [avro.decode(schema, m.value() or b"") for m in read_all(bootstrap, topic, expected)]


def committed_and_end_offsets(
    bootstrap: str, group: str, topic: str, partitions: int
) -> tuple[list[int], list[int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    try:
        for attempt in range(10):
            try:
                committed = [tp.offset for tp in consumer.committed(tps, timeout=20)]
                break
            except KafkaException as exc:  # e.g. NOT_COORDINATOR while the group moves
                if attempt == 9 or not exc.args[0].retriable():
                    raise
                time.sleep(0.5)
        ends = [consumer.get_watermark_offsets(tp, timeout=20)[1] for tp in tps]
    finally:
        consumer.close()
    return committed, ends


def wait_until_committed(
    bootstrap: str, group: str, topic: str, partitions: int, timeout_s: float
) -> list[int]:
    """Block until the group committed every end offset; fail with both lists if it does not."""
    deadline = time.monotonic() + timeout_s
    committed, ends = committed_and_end_offsets(bootstrap, group, topic, partitions)
    while committed != ends and time.monotonic() < deadline:
        time.sleep(0.5)
        committed, ends = committed_and_end_offsets(bootstrap, group, topic, partitions)
    assert committed == ends, f"committed {committed}, end offsets {ends}"
    return committed


def header_map(message: Message) -> dict[str, bytes]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {k: v for k, v in pairs if isinstance(v, bytes)}
