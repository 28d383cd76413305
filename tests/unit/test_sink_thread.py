"""The sink on its own thread: items go to it without waiting, its answers come back in order, a
failure of its thread or of the sink stops the run, and leaving closes the sink."""

from __future__ import annotations

import time
from types import TracebackType

import pytest

from connector.errors import InternalFailure
from connector.ports import OutcomesCallback
from connector.sink import SinkError, SinkItem
from connector.sink_thread import SinkThread
from tests.support.pipeline_doubles import MemorySink


def items(*ids: str) -> list[SinkItem]:
    return [SinkItem(ref=event_id, event_id=event_id, payload=b"{}") for event_id in ids]


def answered(thread: SinkThread, count: int) -> list[str]:
    """The event ids of the next `count` answers (waits for them, not for a time)."""
    ids: list[str] = []
    deadline = time.monotonic() + 30  # a guard against a hang
    while len(ids) < count:
        ids += [outcome.item.event_id for outcome in thread.answers()]
        assert time.monotonic() < deadline, f"{len(ids)} of {count} answers"
    return ids


def test_items_go_to_the_sink_and_answers_come_back_in_order() -> None:
    sink = MemorySink(held_ids={"b"})
    with SinkThread(sink.factory) as thread:
        thread.add(items("a", "b", "c"))
        assert answered(thread, 2) == ["a", "c"]
        assert not thread.flush(0.1)  # "b" is held: not drained
        thread.add(items("d"))
        assert answered(thread, 1) == ["d"]
        assert thread.answers() == []
        assert (thread.auth_failing, thread.failing_connections, thread.stripped_fields) == (
            False,
            (),
            (),
        )
    assert sink.sent == ["a", "b", "c", "d"]


class Closable(MemorySink):
    closed: bool = False
    failing: bool = False

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closed = True

    def raise_if_failed(self) -> None:
        if self.failing:
            raise SinkError("the sink cannot vouch for its outcomes")


def test_leaving_closes_the_sink_and_the_sink_cannot_be_used_after() -> None:
    sink = Closable()
    thread = SinkThread(sink.factory)
    with pytest.raises(RuntimeError, match="outside"):
        thread.add(items("early"))
    with thread:
        assert not sink.closed
    assert sink.closed


def test_a_failed_sink_stops_the_run() -> None:
    sink = Closable()
    with SinkThread(sink.factory) as thread:
        thread.raise_if_failed()
        sink.failing = True
        with pytest.raises(SinkError):
            thread.raise_if_failed()


class Breaking(MemorySink):
    def add(self, item: SinkItem) -> None:
        raise ValueError("a bug in the sink")


def test_a_failure_on_the_sinks_thread_stops_the_run() -> None:
    with SinkThread(Breaking().factory) as thread:
        thread.add(items("a"))
        deadline = time.monotonic() + 30  # a guard against a hang
        while thread._thread.failure is None:
            assert time.monotonic() < deadline, "the failure was never seen"
            time.sleep(0.01)
        with pytest.raises(InternalFailure, match=r"^the spotify-http thread failed: ValueError$"):
            thread.raise_if_failed()


def test_a_sink_that_cannot_open_stops_its_thread() -> None:
    def refuses(_answer: OutcomesCallback) -> MemorySink:
        raise SinkError("cannot open")

    thread = SinkThread(refuses)
    with pytest.raises(SinkError, match="cannot open"), thread:
        pass
    assert not thread._thread._thread.is_alive()
