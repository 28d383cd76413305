"""Results and dead letters: one DeliveryResult per source record, failures also to the DLQ.

Results are written as the writer is told (`kafka.results_format`, connector/results/formats.py);
dead letters are always the source record as it came (value, key and headers) with the `capi.*`
headers added.

Results are written a batch at a time: a batch's records count as settled only when every record
written for them was acknowledged by the broker (idempotent producer, acks=all):
`write_batch(entries, on_durable)` calls `on_durable` exactly then, once (`BatchAck`). A record the
broker refuses for good stops the run (`ResultWriteError`) and its batch never settles;
`on_produce_error` hears of each such record first, by topic role and librdkafka error name (the
metrics' feed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connector.config import KafkaSettings
from connector.errors import ConnectorError
from connector.kafka.client_config import producer_config
from connector.models import DeliveryResult, SourceRecord
from connector.ports import DEAD_LETTER, RESULTS, ProduceErrorCallback, ResultEntry

Headers = list[tuple[str, str | bytes | None]]
Encoder = Callable[[DeliveryResult], bytes]
VALUE_OMITTED_HEADER = "capi.value.omitted"  # on a dead letter whose value was too large


class ResultWriteError(ConnectorError):
    """The broker refused a result or dead-letter record after the producer's own retries."""


def dead_letter_headers(result: DeliveryResult, stage: str) -> list[tuple[str, bytes]]:
    c = result.coordinates
    headers = {
        "capi.error.reason": result.error_code or result.status.value.lower(),
        "capi.error.stage": stage,
        "capi.error.status": result.status.value,
        "capi.error.message": result.error_message or "",
        "capi.source.topic": c.topic,
        "capi.source.partition": str(c.partition),
        "capi.source.offset": str(c.offset),
    }
    if result.event_id:
        headers["capi.event_id"] = result.event_id
    if result.http_status is not None:
        headers["capi.http_status"] = str(result.http_status)
    if result.sp_trace_id:
        headers["capi.sp_trace_id"] = result.sp_trace_id
    return [(k, v.encode("utf-8")) for k, v in headers.items()]


def _ignore(_role: str, _error_name: str) -> None:
    pass


class BatchAck:
    """The broker's acknowledgements of one batch: its two bound methods are the delivery
    callbacks of every result and dead-letter record the batch writes (no closure a record);
    `on_durable` runs once, when the last of them is acknowledged. A refusal goes to `refused`
    and holds the batch for good: the writer raises at its next poll and the run stops."""

    __slots__ = ("_on_durable", "_refused", "outstanding")

    def __init__(
        self,
        outstanding: int,
        on_durable: Callable[[], None],
        refused: Callable[[str, KafkaError], None],
    ) -> None:
        self.outstanding = outstanding  # records not yet acknowledged, plus the writer's hold
        self._on_durable = on_durable
        self._refused = refused

    def result_acked(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.release()
        else:
            self._refused(RESULTS, error)

    def dead_letter_acked(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.release()
        else:
            self._refused(DEAD_LETTER, error)

    def release(self) -> None:
        """One record acknowledged, or the writer's hold let go (every record of the batch is
        with the producer now)."""
        self.outstanding -= 1
        if self.outstanding == 0:
            self._on_durable()


class ResultWriter:
    """Writes each result with `encode` (its record value, of `content_type`: the results format,
    connector/results/formats.py), and each failure's dead letter too."""

    def __init__(
        self,
        settings: KafkaSettings,
        encode: Encoder,
        content_type: bytes,
        *,
        on_produce_error: ProduceErrorCallback | None = None,
    ) -> None:
        self._results_topic = settings.results_topic
        self._dlq_topic = settings.dlq_topic
        self._encode = encode
        self._headers: Headers = [("content-type", content_type)]
        self._producer = Producer(producer_config(settings))
        self._on_produce_error = on_produce_error or _ignore
        self._failure: tuple[str, KafkaError] | None = None  # the first refusal: role, error

    def write_batch(self, entries: Sequence[ResultEntry], on_durable: Callable[[], None]) -> None:
        """Write each result (and, for a failure, its dead letter); call `on_durable` once every
        record of the batch is acknowledged."""
        # Held (the +1) until the loop ends: a full queue polls mid-batch, and the records
        # acknowledged by then must not look like the whole batch.
        ack = BatchAck(len(entries) + 1, on_durable, self._refused)
        acked = ack.result_acked
        topic, headers, encode = self._results_topic, self._headers, self._encode
        for result, envelope, stage in entries:
            key = (result.event_id or "").encode("utf-8") or envelope.key
            self._produce(topic, encode(result), key, headers, acked)
            if result.is_failure:
                ack.outstanding += 1
                self._dead_letter(result, envelope, stage, ack.dead_letter_acked)
        ack.release()

    def _dead_letter(
        self,
        result: DeliveryResult,
        envelope: SourceRecord,
        stage: str,
        acked: Callable[[KafkaError | None, Message], None],
    ) -> None:
        headers: Headers = [*envelope.headers, *dead_letter_headers(result, stage)]
        try:
            self._produce(self._dlq_topic, envelope.value, envelope.key, headers, acked)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
            # A record too large for the producer would stop the run on every restart:
            # dead-letter its coordinates and reason without the value.
            size = f"{len(envelope.value or b'')} bytes, over the producer's message.max.bytes"
            headers.append((VALUE_OMITTED_HEADER, size.encode()))
            self._produce(self._dlq_topic, None, envelope.key, headers, acked)

    def _refused(self, role: str, error: KafkaError) -> None:
        # Counted here, in the delivery callback: before poll() raises and stops the run.
        self._on_produce_error(role, error.name())
        if self._failure is None:
            self._failure = (role, error)

    def _produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=on_delivery
                )
            except BufferError:
                self._producer.poll(0.1)  # the local queue is full: let deliveries drain it
            else:
                return

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery callbacks; raise if the broker refused a record for good."""
        self._producer.poll(timeout_s)
        self._raise_on_failure()

    def flush(self, timeout_s: float) -> int:
        remaining = int(self._producer.flush(timeout_s))
        self._raise_on_failure()
        return remaining

    def close(self) -> None:
        self._producer.close()

    def _raise_on_failure(self) -> None:
        if self._failure is not None:
            role, error = self._failure
            what, topic = (
                ("a result", self._results_topic)
                if role == RESULTS
                else ("a dead-letter", self._dlq_topic)
            )
            raise ResultWriteError(
                f"could not write {what} record to {topic}: {error.name()} ({error.str()})"
            )
