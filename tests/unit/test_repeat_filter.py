"""Identical log lines while a broker is down: the first passes, then one a window with a count."""

from __future__ import annotations

import logging

from connector.process.logs import RepeatFilter

WINDOW_S = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(
    msg: str, *args: object, level: int = logging.WARNING, **extra: object
) -> logging.LogRecord:
    record = logging.LogRecord("connector.kafka", level, __file__, 1, msg, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_repeats_within_the_window_are_held_and_counted_on_the_next_line() -> None:
    clock = FakeClock()
    repeats = RepeatFilter(WINDOW_S, clock)
    error = "127.0.0.1:{port}/bootstrap: Connect failed (after {ms}ms in state CONNECT)"
    passed = []
    for second in range(61):  # 40 lines a second for a minute, numbers changing
        clock.now = 100.0 + second
        for n in range(40):
            record = _record("kafka client error", error=error.format(port=9092, ms=n))
            if repeats.filter(record):
                passed.append((second, getattr(record, "repeated", None)))
    assert passed == [(0, None), (30, 40 * 30 - 1), (60, 40 * 30 - 1)]


def test_different_lines_and_levels_pass_on_their_own() -> None:
    clock = FakeClock()
    repeats = RepeatFilter(WINDOW_S, clock)
    assert repeats.filter(_record("%s [%s] %s", "FAIL", "rdkafka#consumer-1", "refused"))
    assert repeats.filter(_record("%s [%s] %s", "FAIL", "rdkafka#consumer-1", "timed out"))
    assert repeats.filter(_record("%s [%s] %s", "FAIL", "rdkafka#consumer-1", "refused", level=40))
    assert not repeats.filter(_record("%s [%s] %s", "FAIL", "rdkafka#consumer-2", "refused"))
    clock.now += WINDOW_S
    again = _record("%s [%s] %s", "FAIL", "rdkafka#consumer-1", "refused")
    assert repeats.filter(again)
    assert again.repeated == 1  # type: ignore[attr-defined]
