"""Progress of a command that works through a known number of records: a bar on a terminal
(tqdm: done / total, rate, ETA), plain lines elsewhere (a Job's log, CI), at most one every
`every_s` and one at the end, so a log shows the run without a line per update."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import IO


class Progress:
    def __init__(
        self,
        total: int,
        what: str,
        *,
        unit: str = "records",
        stream: IO[str] | None = None,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self._what = what
        self._unit = unit
        self._stream = stream or sys.stderr
        self._every_s = every_s
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._written = -1  # `done` at the last plain line
        self._bar = None
        if self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=what, file=self._stream)

    def advance_to(self, done: int) -> None:
        """`done` of `total` now (never less than before)."""
        if done <= self.done:
            return
        if self._bar is not None:
            self._bar.update(done - self.done)
        self.done = done
        now = self._clock()
        if self._bar is None and now - self._last_line >= self._every_s:
            self._last_line = now
            self._write_line(now)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._written != self.done:
            self._write_line(self._clock())

    def line(self, now: float) -> str:
        """`<what> 1200/5000 records (24.0 %), 350/s, ETA 0:00:11`."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        share = 100.0 * self.done / self.total if self.total else 100.0
        left = self.total - self.done
        eta = str(timedelta(seconds=round(left / rate))) if rate > 0 and left > 0 else "-"
        return (
            f"{self._what} {self.done}/{self.total} {self._unit} ({share:.1f} %), "
            f"{rate:.0f}/s, ETA {eta}"
        )

    def _write_line(self, now: float) -> None:
        self._written = self.done
        self._stream.write(self.line(now) + "\n")
        self._stream.flush()
