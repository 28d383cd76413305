"""An asyncio event loop on its own thread, so the Kafka thread can stay synchronous.

confluent-kafka calls rebalance callbacks inside `consume()`; a revoke must wait for in-flight
HTTP requests. With the HTTP side on another thread, the Kafka thread can simply block on it.

An exception nobody awaits (a scheduled callback, a forgotten task) or the loop itself dying is
a failure of the connector, not a log line: it is kept in `failure` and handed to `on_failure`,
so the owner stops instead of running on without the work that thread was doing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class LoopThread:
    def __init__(
        self,
        name: str = "spotify-http",
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.name = name
        self.failure: BaseException | None = None
        self._on_failure = on_failure
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._unhandled)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        except BaseException as exc:  # recorded and reported, not swallowed
            self._fail(exc)

    def _unhandled(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        failure = context.get("exception")
        if not isinstance(failure, BaseException) or isinstance(failure, OSError):
            # A warning (an unclosed session) or one connection's trouble: not the loop's.
            log.warning("%s loop: %s", self.name, context.get("message", "unknown problem"))
            return
        self._fail(failure)

    def _fail(self, failure: BaseException) -> None:
        log.error(
            "%s thread failed: %s; the connector stops",
            self.name,
            type(failure).__name__,
            exc_info=failure,
        )
        if self.failure is None:
            self.failure = failure
            if self._on_failure is not None:
                self._on_failure(failure)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(self, work: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run a coroutine on the loop and wait for its result from this thread."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout_s)

    def call(self, function: Callable[..., object], *args: object) -> None:
        """Schedule a plain function on the loop; returns at once."""
        self._loop.call_soon_threadsafe(function, *args)

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
