"""A failure nobody awaits on a loop thread is recorded and reported, not only logged."""

from __future__ import annotations

import threading

from connector.process.loop_thread import LoopThread


def _explode() -> None:
    raise ValueError("a bug in a scheduled callback")


def _connection_trouble() -> None:
    raise ConnectionResetError("peer went away")


def test_a_failing_callback_is_the_threads_failure_and_reaches_on_failure() -> None:
    reported: list[BaseException] = []
    heard = threading.Event()

    def on_failure(failure: BaseException) -> None:
        reported.append(failure)
        heard.set()

    with LoopThread(name="probe", on_failure=on_failure) as loop:
        loop.call(_explode)
        assert heard.wait(5)
        loop.call(_explode)  # only the first is reported
        assert loop.run(_answer()) == 42  # the loop still serves what is in flight
    assert loop.failure is reported[0]
    assert [type(f) for f in reported] == [ValueError]


def test_a_connections_os_error_is_not_a_failure() -> None:
    with LoopThread(name="probe") as loop:
        loop.call(_connection_trouble)
        assert loop.run(_answer()) == 42
    assert loop.failure is None


async def _answer() -> int:
    return 42
