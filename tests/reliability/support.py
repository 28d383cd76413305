"""What every reliability test shares: run sizes, topics, and the end-state proof.

The proof, for a run that produced records with known event ids and known poison:
- every event id expected to be delivered was accepted by the sandbox (duplicates are fine:
  Spotify deduplicates on event_id), and no other id was;
- every source record has a result record, and every expected failure a dead letter with the
  expected reason;
- the group's committed offsets equal the end offsets (nothing left behind);
- lost = produced - delivered - dead-lettered = 0.
`CAPI_SOAK=1` scales the runs up (see `scaled`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from capi_devtools.sandbox import SandboxThread
from connector.kafka.results import VALUE_OMITTED_HEADER
from connector.schemas import avro
from tests.support.kafka import committed_and_end_offsets, header_map

SOAK = os.environ.get("CAPI_SOAK", "") not in ("", "0")


def scaled(ci: int, soak: int) -> int:
    """The CI size of a run, or its soak size when CAPI_SOAK=1."""
    return soak if SOAK else ci


def scaled_float(ci: float, soak: float) -> float:
    return soak if SOAK else ci


def make_topics(
    bootstrap: str, partitions: int, *, topic_config: Mapping[str, str] | None = None
) -> str:
    """A fresh input topic and its `-results` and `-dlq` topics; returns the input topic."""
    name = f"rel-{uuid.uuid4().hex[:8]}"
    config = dict(topic_config or {})
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [
            NewTopic(name, partitions, 1, config=config),
            NewTopic(f"{name}-results", 1, 1),
            NewTopic(f"{name}-dlq", 1, 1, config=config),
        ],
        operation_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=30)
    return name


def produce_exactly_once(
    bootstrap: str, topic: str, records: Sequence[dict[str, Any]], *, partitions: int
) -> None:
    """Write tracking events with the idempotent producer: a retry across a broker restart must
    not write a record twice, or the input itself would hold duplicates."""
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    for record in records:
        partition = int(str(record["properties"]["$event_id"]).rsplit("-", 1)[1]) % partitions
        producer.produce(topic, value=avro.encode(schema, record), partition=partition)
    assert producer.flush(120) == 0


def wait_until_committed(
    bootstrap: str,
    group: str,
    topic: str,
    partitions: int,
    timeout_s: float,
    *,
    check: Callable[[], object] | None = None,
) -> list[int]:
    """Block until the group committed every end offset; fail with both lists if it does not.

    `check` runs on every round: it raises when the connector under test died."""
    deadline = time.monotonic() + timeout_s
    committed: list[int] = []
    ends: list[int] = [-1]
    while time.monotonic() < deadline:
        if check is not None:
            check()
        try:
            committed, ends = committed_and_end_offsets(bootstrap, group, topic, partitions)
        except KafkaException:  # e.g. NOT_COORDINATOR while the offsets topic is being made
            committed, ends = [], [-1]
        if committed == ends:
            break
        time.sleep(0.5)
    assert committed == ends, f"committed {committed}, end offsets {ends}"
    return committed


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 120.0) -> list[Message]:
    """Every record of every partition of a topic, up to the end offsets as they are now."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=30)
        ends = {}
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is not None:
                    continue
                messages.append(message)
                partition, offset = message.partition() or 0, message.offset() or 0
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
        assert not ends, f"{topic}: partitions {sorted(ends)} not read to the end in time"
    finally:
        consumer.close()
    return messages


@dataclass
class EndState:
    """What a run left behind, counted by event id and by source coordinates."""

    name: str
    produced: int
    accepted: dict[str, int]  # event id → times the sandbox accepted it
    results: list[dict[str, object]]
    dead_letter_reasons: dict[tuple[int, int], str]  # (partition, offset) → capi.error.reason
    values_omitted: set[tuple[int, int]] = field(default_factory=set)  # dead letters without value
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return len(self.accepted)

    @property
    def duplicates(self) -> int:
        return sum(self.accepted.values()) - len(self.accepted)

    @property
    def dead_lettered(self) -> int:
        return len(self.dead_letter_reasons)

    @property
    def lost(self) -> int:
        return self.produced - self.delivered - self.dead_lettered

    def statuses(self) -> Counter[str]:
        """The last result status of each source record (a record redelivered has several)."""
        last: dict[tuple[object, object], str] = {}
        for r in self.results:
            last[(r["source_partition"], r["source_offset"])] = str(r["status"])
        return Counter(last.values())

    def without_result(self) -> list[tuple[int, int]]:
        """Source coordinates that have no result record (the topic's partitions, dense offsets)."""
        seen = {
            (int(str(r["source_partition"])), int(str(r["source_offset"]))) for r in self.results
        }
        ends: dict[int, int] = {}
        for partition, offset in seen:
            ends[partition] = max(ends.get(partition, -1), offset)
        return sorted(
            (partition, offset)
            for partition, end in ends.items()
            for offset in range(end + 1)
            if (partition, offset) not in seen
        )

    def report(self) -> str:
        extra = "".join(f", {k} {v}" for k, v in self.notes.items())
        return (
            f"\n[{self.name}] produced {self.produced}, delivered {self.delivered}, "
            f"duplicates {self.duplicates}, dead-lettered {self.dead_lettered}, "
            f"lost {self.lost}{extra}"
        )


def collect_end_state(
    name: str,
    bootstrap: str,
    topic: str,
    sandbox: SandboxThread,
    *,
    produced: int,
) -> EndState:
    accepted = sandbox.state.accepted_ids()
    schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    results = [
        avro.decode(schema, m.value() or b"") for m in read_to_end(bootstrap, f"{topic}-results")
    ]
    dead_letters = read_to_end(bootstrap, f"{topic}-dlq")
    reasons, omitted = {}, set()
    for message in dead_letters:
        headers = header_map(message)
        where = (int(headers["capi.source.partition"]), int(headers["capi.source.offset"]))
        reasons[where] = headers["capi.error.reason"].decode()
        if VALUE_OMITTED_HEADER in headers:
            assert message.value() is None
            omitted.add(where)
    return EndState(name, produced, accepted, results, reasons, omitted)


def assert_accounted_for(
    state: EndState, delivered_ids: set[str], *, dead_letter_reasons: Counter[str] | None = None
) -> None:
    """Every expected id delivered, every record with a result, every failure with its reason."""
    assert set(state.accepted) == delivered_ids
    coordinates = {(r["source_partition"], r["source_offset"]) for r in state.results}
    missing = state.produced - len(coordinates)
    assert missing == 0, f"{missing} records without a result, e.g. {state.without_result()[:5]}"
    assert Counter(state.dead_letter_reasons.values()) == (dead_letter_reasons or Counter())
    assert state.lost == 0
