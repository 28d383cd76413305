"""BatchAck: one acknowledgement object for a batch of result and dead-letter records. It
settles the batch once, after the last record's acknowledgement and the writer's hold; a refused
record holds the batch for good and is reported by its topic role."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from connector.kafka.results import BatchAck

NO_MESSAGE: Any = None  # the callbacks never read the message


class Recorder:
    def __init__(self, records: int) -> None:
        self.settled = 0
        self.refused: list[tuple[str, str]] = []
        self.ack = BatchAck(records + 1, self.on_durable, self.on_refused)  # +1: the hold

    def on_durable(self) -> None:
        self.settled += 1

    def on_refused(self, role: str, error: KafkaError) -> None:
        self.refused.append((role, error.name()))


def test_settles_once_when_every_record_and_the_hold_are_done() -> None:
    r = Recorder(3)
    r.ack.result_acked(None, NO_MESSAGE)
    r.ack.release()
    r.ack.dead_letter_acked(None, NO_MESSAGE)
    assert r.settled == 0  # one record still unacknowledged
    r.ack.result_acked(None, NO_MESSAGE)
    assert r.settled == 1
    assert r.refused == []


def test_records_acknowledged_before_the_hold_is_released_do_not_settle_the_batch() -> None:
    r = Recorder(2)
    r.ack.result_acked(None, NO_MESSAGE)
    r.ack.result_acked(None, NO_MESSAGE)  # e.g. a full queue polled mid-batch
    assert r.settled == 0
    r.ack.release()
    assert r.settled == 1


def test_a_refused_record_is_reported_by_role_and_the_batch_never_settles() -> None:
    r = Recorder(3)
    r.ack.result_acked(None, NO_MESSAGE)
    r.ack.dead_letter_acked(KafkaError(KafkaError._MSG_TIMED_OUT), NO_MESSAGE)
    r.ack.result_acked(None, NO_MESSAGE)
    r.ack.release()
    assert r.settled == 0
    assert r.refused == [("dead_letter", "_MSG_TIMED_OUT")]
    r2 = Recorder(1)
    r2.ack.result_acked(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), NO_MESSAGE)
    r2.ack.release()
    assert r2.settled == 0
    assert r2.refused == [("results", "MSG_SIZE_TOO_LARGE")]
