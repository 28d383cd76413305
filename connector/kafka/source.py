"""Kafka in: a confluent-kafka consumer with manual commits and cooperative rebalancing.

The source turns messages into SourceRecords and tells its listener (`connector.ports.SourceEvents`)
of rebalances, acknowledged commits and "all brokers down"; it decides nothing about which
offsets are safe (that is the pipeline's offset book).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from connector.config import KafkaSettings
from connector.kafka.client_config import log_client_error, streaming_consumer_config
from connector.models import SourceCoordinates, SourceRecord, new_tuple
from connector.offsets import Commit
from connector.ports import SourceEvents

log = logging.getLogger(__name__)

# Commit refusals that a rebalance brings (the member's generation or epoch moved on): expected
# while the group changes, and the commit is made again, so they are logged at INFO.
_REBALANCE_REFUSALS = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.STALE_MEMBER_EPOCH,
        KafkaError.FENCED_MEMBER_EPOCH,
        KafkaError._ASSIGNMENT_LOST,
    }
)


class KafkaSource:
    def __init__(self, settings: KafkaSettings) -> None:
        self._topics = settings.input_topics
        self._events: SourceEvents | None = None  # set by start()
        config = streaming_consumer_config(settings)
        config["on_commit"] = self._acknowledged
        config["error_cb"] = self._client_error
        self._consumer = Consumer(config)
        self._paused: set[tuple[str, int]] = set()
        self._fresh: list[tuple[str, int]] = []  # assigned in the last poll

    def start(self, events: SourceEvents) -> None:
        """Subscribe; `events` hears of rebalances and commits inside `poll` and `commit`."""
        self._events = events
        self._consumer.subscribe(
            self._topics,
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
        )

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        """Up to `max_records` records; rebalance callbacks run inside this call."""
        messages = self._consumer.consume(max_records, timeout=timeout_s)
        if self._fresh:
            # librdkafka keeps a partition's pause flag across revoke and re-assign: a partition
            # paused when it was taken away would come back paused and never be read again.
            self._consumer.resume([TopicPartition(t, p) for t, p in self._fresh])
            self._fresh = []
        now_ms = int(time.time() * 1000)
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                continue  # informational (e.g. partition EOF); librdkafka recovers the rest
            records.append(source_record(message, now_ms))
        return records

    def pause(self, partitions: Sequence[tuple[str, int]]) -> None:
        fresh = [tp for tp in partitions if tp not in self._paused]
        if fresh:
            self._consumer.pause([TopicPartition(t, p) for t, p in fresh])
            self._paused.update(fresh)

    def resume(self, partitions: Sequence[tuple[str, int]]) -> None:
        held = [tp for tp in partitions if tp in self._paused]
        if held:
            self._consumer.resume([TopicPartition(t, p) for t, p in held])
            self._paused.difference_update(held)

    @property
    def paused(self) -> frozenset[tuple[str, int]]:
        return frozenset(self._paused)

    def commit(self, commits: Sequence[Commit], *, wait: bool) -> None:
        """Commit; `on_committed` hears of each offset the broker acknowledged.

        A failed commit (say, during a rebalance) is only logged: the offsets stay unacknowledged
        and the pipeline commits them again, or the next owner redelivers those records.
        """
        if not commits:
            return
        offsets = [TopicPartition(c.topic, c.partition, c.offset) for c in commits]
        try:
            if wait:
                self._acknowledged(None, self._consumer.commit(offsets=offsets, asynchronous=False))
            else:
                self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            self._commit_refused(exc.args[0])

    def _acknowledged(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None:
            self._commit_refused(error)
            return
        done = [
            Commit(tp.topic, tp.partition, tp.offset)
            for tp in partitions
            if tp.error is None and tp.offset >= 0
        ]
        if done and self._events is not None:
            self._events.committed(done)

    def _commit_refused(self, error: KafkaError) -> None:
        level = logging.INFO if error.code() in _REBALANCE_REFUSALS else logging.WARNING
        log.log(level, "commit failed; it will be retried", extra={"error": error.str()})
        if self._events is not None:
            self._events.commit_failed()

    def _client_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN and self._events is not None:
            self._events.brokers_down()
        log_client_error(error.str())

    def lag(self, positions: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """High watermark minus position per partition (from the client's cached watermarks)."""
        lags = {}
        for (topic, partition), position in positions.items():
            try:
                _low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                lags[(topic, partition)] = max(0, high - position)
        return lags

    def reachable(self, timeout_s: float = 1.0) -> bool:
        try:
            self._consumer.list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return True

    def close(self) -> None:
        self._consumer.close()

    def _listener(self) -> SourceEvents:
        assert self._events is not None  # noqa: S101 - rebalances follow start()
        return self._events

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assigned = [(tp.topic, tp.partition) for tp in partitions]
        self._fresh.extend(assigned)
        self._listener().assigned(assigned)

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        self._listener().revoked(revoked)
        self._paused.difference_update(revoked)

    def _lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = [(tp.topic, tp.partition) for tp in partitions]
        self._listener().lost(lost)
        self._paused.difference_update(lost)


def source_record(message: Message, now_ms: int) -> SourceRecord:
    timestamp_type, timestamp = message.timestamp()
    headers = message.headers()
    # One a record: the fields in order through new_tuple, ~1 µs cheaper than the
    # NamedTuples' keyword __new__ (bench/README.md, main process).
    coordinates = new_tuple(
        SourceCoordinates,
        (
            message.topic() or "",  # topic
            message.partition() or 0,  # partition
            message.offset() or 0,  # offset
            timestamp if timestamp_type != 0 and timestamp > 0 else None,  # timestamp_ms
        ),
    )
    return new_tuple(
        SourceRecord,
        (
            coordinates,
            message.key(),  # key
            message.value(),  # value
            _headers(headers),  # headers
            now_ms,  # received_at_ms
        ),
    )


def _headers(raw: object) -> tuple[tuple[str, bytes], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple((str(k), v if isinstance(v, bytes) else b"") for k, v in raw)
