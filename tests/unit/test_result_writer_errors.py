"""A result or dead-letter record the producer fails is reported, by topic role and librdkafka
error name, before the writer raises; no broker needed: librdkafka fails purged records locally
through the same delivery callback a broker's refusal takes."""

from __future__ import annotations

import socket

import pytest

from connector.config import KafkaSettings
from connector.kafka.results import ResultWriteError, ResultWriter
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates, SourceRecord
from connector.results.codec import encode_result
from connector.results.formats import AVRO_CONTENT_TYPE

AVRO = (encode_result, AVRO_CONTENT_TYPE)  # the default results format


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def writer_nowhere(errors: list[tuple[str, str]]) -> ResultWriter:
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{closed_port()}",
        input_topic="events",
        results_topic="out-results",
        dlq_topic="out-dlq",
        client_properties={"log_level": "0"},
    )
    return ResultWriter(settings, *AVRO, on_produce_error=lambda *error: errors.append(error))


def envelope(offset: int) -> SourceRecord:
    return SourceRecord(
        coordinates=SourceCoordinates("events", 0, offset, None),
        key=None,
        value=b"the source record",
        headers=(),
        received_at_ms=1_000,
    )


def result(offset: int, status: DeliveryStatus) -> DeliveryResult:
    return DeliveryResult(
        coordinates=SourceCoordinates("events", 0, offset, None),
        status=status,
        received_at_ms=1_000,
        settled_at_ms=2_000,
        error_code="invalid_avro" if status is DeliveryStatus.UNDECODABLE else None,
    )


def test_failed_records_are_reported_by_role_and_error_before_the_writer_raises() -> None:
    errors: list[tuple[str, str]] = []
    durable: list[int] = []
    writer = writer_nowhere(errors)
    try:
        delivered = result(1, DeliveryStatus.DELIVERED)
        writer.write_batch([(delivered, envelope(1), "sink")], lambda: durable.append(1))
        dead = result(2, DeliveryStatus.UNDECODABLE)
        writer.write_batch([(dead, envelope(2), "decode")], lambda: durable.append(2))
        # No broker to answer: purge fails the three queued records as a refusal would.
        writer._producer.purge()
        with pytest.raises(ResultWriteError) as raised:
            writer.poll(1.0)
    finally:
        writer.close()
    assert sorted(errors) == [
        ("dead_letter", "_PURGE_QUEUE"),
        ("results", "_PURGE_QUEUE"),
        ("results", "_PURGE_QUEUE"),
    ]
    assert durable == []
    assert str(raised.value).startswith(
        "could not write a result record to out-results: _PURGE_QUEUE ("
    )


def test_without_a_callback_a_failure_still_raises() -> None:
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{closed_port()}",
        input_topic="events",
        client_properties={"log_level": "0"},
    )
    writer = ResultWriter(settings, *AVRO)
    try:
        writer.write_batch([(result(1, DeliveryStatus.DELIVERED), envelope(1), "sink")], _nothing)
        writer._producer.purge()
        with pytest.raises(ResultWriteError, match="_PURGE_QUEUE"):
            writer.poll(1.0)
    finally:
        writer.close()


def test_a_batch_with_one_refused_record_never_settles_and_the_writer_raises() -> None:
    errors: list[tuple[str, str]] = []
    settled: list[str] = []
    writer = writer_nowhere(errors)
    try:
        batch = [
            (result(1, DeliveryStatus.DELIVERED), envelope(1), "spotify"),
            (result(2, DeliveryStatus.UNDECODABLE), envelope(2), "decode"),
            (result(3, DeliveryStatus.DELIVERED), envelope(3), "spotify"),
        ]
        writer.write_batch(batch, lambda: settled.append("batch"))
        writer._producer.purge()
        with pytest.raises(ResultWriteError):
            writer.poll(1.0)
    finally:
        writer.close()
    assert settled == []
    assert sorted(errors) == [("dead_letter", "_PURGE_QUEUE")] + [("results", "_PURGE_QUEUE")] * 3


def _nothing() -> None:
    pass
