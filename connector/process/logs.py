"""Structured logs: JSON lines for machines, plain text for a terminal. One line per notable event.

Messages and extras are ours; record values (emails, phones) and the token are never logged.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry import trace

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # written inside a traced batch or request: say which
            line["trace_id"] = trace.format_trace_id(span.trace_id)
            line["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        stamp = self.formatTime(record, "%H:%M:%S")
        return f"{stamp} {record.levelname:<7} {record.getMessage()}" + (
            f"  {tail}" if tail else ""
        )


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would be one line per request; librdkafka logs through its own callback.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class RepeatFilter(logging.Filter):
    """Lets the first of identical lines through, then at most one per `window_s` carrying in
    `repeated` how many were held back since. Lines differing only in numbers (a port, a
    millisecond count) are identical here."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[int, str], _Seen] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        text = f"{record.getMessage()} {getattr(record, 'error', '')}"
        key = (record.levelno, _NUMBERS.sub("#", text))
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.since < self._window_s:
                seen.held += 1
                return False
            if seen is not None and seen.held:
                record.repeated = seen.held
            if len(self._seen) >= _MAX_KEYS:
                self._forget(now)
            self._seen[key] = _Seen(now)
        return True

    def _forget(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if now - v.since < self._window_s}


@dataclass(slots=True)
class _Seen:
    since: float
    held: int = 0


_NUMBERS = re.compile(r"\d+")
_MAX_KEYS = 1024
