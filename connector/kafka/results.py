"""Results and dead letters: one DeliveryResult per source record, failures also to the DLQ.

Results are written in `kafka.results_format`; dead letters are always the source record as it
came (value, key and headers) with the `capi.*` headers added.

A record counts as settled only when every record written for it was acknowledged by the broker
(idempotent producer, acks=all): `write(..., on_durable)` calls `on_durable` exactly then. A record
the broker refuses for good stops the run (`ResultWriteError`); `on_produce_error` hears of each
such record first, by topic role and librdkafka error name (the metrics' feed).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connector import avro
from connector.config import DecodeSettings, KafkaSettings
from connector.errors import ConnectorError
from connector.kafka.client import producer_config
from connector.kafka.registry import register_schema
from connector.models import DeliveryResult, SourceRecord
from connector.ports import DEAD_LETTER, RESULTS, ProduceErrorCallback
from connector.result_codec import encode_result, encode_result_json

Headers = list[tuple[str, str | bytes | None]]
Encoder = Callable[[DeliveryResult], bytes]
RESULT_CONTENT_TYPE = b"application/avro; schema=delivery_result"
_CONTENT_TYPES = {
    "avro": RESULT_CONTENT_TYPE,
    "confluent": b"application/vnd.confluent.avro",
    "json": b"application/json",
}
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


def result_encoder(settings: KafkaSettings, registry: DecodeSettings) -> Encoder:
    """How a result becomes a record value in `settings.results_format`. For `confluent` the
    schema is registered (under `<results topic>-value`) now, at start, not at the first result."""
    if settings.results_format == "json":
        return encode_result_json
    if settings.results_format == "avro":
        return encode_result
    subject = f"{settings.results_topic}-value"
    schema_id = register_schema(registry, subject, avro.bundled_text(avro.DELIVERY_RESULT))
    prefix = b"\x00" + struct.pack(">I", schema_id)  # the magic byte, then the schema id

    def framed(result: DeliveryResult) -> bytes:
        return prefix + encode_result(result)

    return framed


def _ignore(_role: str, _error_name: str) -> None:
    pass


class ResultWriter:
    def __init__(
        self,
        settings: KafkaSettings,
        registry: DecodeSettings | None = None,
        *,
        on_produce_error: ProduceErrorCallback | None = None,
    ) -> None:
        self._results_topic = settings.results_topic
        self._dlq_topic = settings.dlq_topic
        self._encode = result_encoder(settings, registry or DecodeSettings())
        self._headers: Headers = [("content-type", _CONTENT_TYPES[settings.results_format])]
        self._producer = Producer(producer_config(settings))
        self._on_produce_error = on_produce_error or _ignore
        self._failure: tuple[str, KafkaError] | None = None  # the first refusal: role, error

    def write(
        self,
        result: DeliveryResult,
        envelope: SourceRecord,
        on_durable: Callable[[], None],
        *,
        stage: str,
    ) -> None:
        """Write the result (and, for a failure, the dead letter); then call `on_durable`."""
        outstanding = 2 if result.is_failure else 1

        def acked(error: KafkaError | None, _message: Message, role: str = RESULTS) -> None:
            nonlocal outstanding
            if error is not None:
                # Counted here, in the delivery callback: before poll() raises and stops the run.
                self._on_produce_error(role, error.name())
                if self._failure is None:
                    self._failure = (role, error)
                return
            outstanding -= 1
            if outstanding == 0:
                on_durable()

        key = (result.event_id or "").encode("utf-8") or envelope.key
        self._produce(self._results_topic, self._encode(result), key, self._headers, acked)
        if result.is_failure:
            headers: Headers = [
                *envelope.headers,
                *dead_letter_headers(result, stage),
            ]
            dead_letter = partial(acked, role=DEAD_LETTER)
            try:
                self._produce(self._dlq_topic, envelope.value, envelope.key, headers, dead_letter)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                    raise
                # A record too large for the producer would stop the run on every restart:
                # dead-letter its coordinates and reason without the value.
                size = f"{len(envelope.value or b'')} bytes, over the producer's message.max.bytes"
                headers.append((VALUE_OMITTED_HEADER, size.encode()))
                self._produce(self._dlq_topic, None, envelope.key, headers, dead_letter)

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
