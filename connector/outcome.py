"""Results and dead letters: one DeliveryResult per source record, failures also to the DLQ.

A record counts as settled only when every record written for it was acknowledged by the broker
(idempotent producer, acks=all): `write(..., on_durable)` calls `on_durable` exactly then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connector import __version__
from connector.config import KafkaSettings
from connector.errors import ConnectorError
from connector.kafka_client import client_config
from connector.models import DeliveryResult, Envelope
from connector.result_codec import encode_result

RESULT_CONTENT_TYPE = b"application/avro; schema=delivery_result"
_RESULT_HEADERS: list[tuple[str, str | bytes | None]] = [("content-type", RESULT_CONTENT_TYPE)]
VALUE_OMITTED_HEADER = "capi.value.omitted"  # on a dead letter whose value was too large


class OutcomeWriteError(ConnectorError):
    """The broker refused a result or dead-letter record after the producer's own retries."""


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **client_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        "delivery.timeout.ms": 120_000,
    }


def result_record(result: DeliveryResult) -> dict[str, object]:
    c = result.coordinates
    return {
        "source_topic": c.topic,
        "source_partition": c.partition,
        "source_offset": c.offset,
        "event_id": result.event_id,
        "event_name": result.event_name,
        "status": result.status.value,
        "http_status": result.http_status,
        "error_code": result.error_code,
        "error_field": result.error_field,
        "error_message": result.error_message,
        "attempts": result.attempts,
        "received_at": result.received_at_ms,
        "settled_at": result.settled_at_ms,
        "event_time": result.event_time_ms,
        "latency_ms": max(0, result.settled_at_ms - result.received_at_ms),
        "sp_trace_id": result.sp_trace_id,
        "warnings": list(result.warnings),
        "connector_version": __version__,
    }


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


class OutcomeWriter:
    def __init__(self, settings: KafkaSettings) -> None:
        self._results_topic = settings.results_topic
        self._dlq_topic = settings.dlq_topic
        self._producer = Producer(producer_config(settings))
        self._failure: KafkaError | None = None

    def write(
        self,
        result: DeliveryResult,
        envelope: Envelope,
        on_durable: Callable[[], None],
        *,
        stage: str | None = None,
    ) -> None:
        """Write the result (and, for a failure, the dead letter); then call `on_durable`."""
        outstanding = 2 if result.is_failure else 1

        def acked(error: KafkaError | None, _message: Message) -> None:
            nonlocal outstanding
            if error is not None:
                self._failure = error
                return
            outstanding -= 1
            if outstanding == 0:
                on_durable()

        key = (result.event_id or "").encode("utf-8") or envelope.key
        self._produce(self._results_topic, encode_result(result), key, _RESULT_HEADERS, acked)
        if result.is_failure:
            headers: list[tuple[str, str | bytes | None]] = [
                *envelope.headers,
                *dead_letter_headers(result, stage or "spotify"),
            ]
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

    def _produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, str | bytes | None]],
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
            raise OutcomeWriteError(f"could not write an outcome record: {self._failure.str()}")
