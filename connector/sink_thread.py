"""The sink on its own event-loop thread (the HTTP thread), seen from the Kafka thread.

The Kafka thread hands it items and never waits for Spotify: the sink's answers come back
through a queue, taken at every turn of the pipeline's loop. Opening and closing the sink, and a
drain's flush, run on the loop and are waited for. A failure of the thread or of a sink task
stops the run (`raise_if_failed`): without it nothing would settle any more.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from connector.errors import InternalFailure
from connector.ports import Sink, SinkFactory
from connector.process.loop_thread import LoopThread
from connector.sink import SendOutcome, SinkItem, StrippedField

_CLOSE_TIMEOUT_S = 30.0


class SinkThread:
    """`with SinkThread(factory) as sink:` the sink made by `factory`, open on its thread."""

    def __init__(self, factory: SinkFactory) -> None:
        self._factory = factory
        self._thread = LoopThread()
        self._answers: queue.SimpleQueue[Sequence[SendOutcome]] = queue.SimpleQueue()
        self._context: AbstractAsyncContextManager[Sink] | None = None
        self._sink: Sink | None = None

    def __enter__(self) -> SinkThread:
        self._thread.__enter__()
        try:
            self._sink = self._thread.run(self._open())
        except BaseException:
            self._thread.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._context is not None:
                self._thread.run(self._context.__aexit__(None, None, None), _CLOSE_TIMEOUT_S)
        finally:
            self._thread.close()

    async def _open(self) -> Sink:
        context = self._context = self._factory(self._answers.put)
        return await context.__aenter__()

    def add(self, items: list[SinkItem]) -> None:
        """Queue items on the sink; returns at once."""
        self._thread.call(_add_all, self._open_sink(), items)

    def answers(self) -> list[SendOutcome]:
        """Every outcome the sink has given since the last call, in order."""
        taken: list[SendOutcome] = []
        while True:
            try:
                taken.extend(self._answers.get_nowait())
            except queue.Empty:
                return taken

    def flush(self, timeout_s: float) -> bool:
        """Send what waits and wait for every answer, at most `timeout_s`; True when drained."""
        return self._thread.run(self._open_sink().flush(timeout_s))

    def raise_if_failed(self) -> None:
        """Without its thread, or with a failed sink task, nothing settles: stop, loudly."""
        failure = self._thread.failure
        if failure is not None:
            raise InternalFailure(
                f"the {self._thread.name} thread failed: {type(failure).__name__}"
            ) from failure
        if self._sink is not None:
            self._sink.raise_if_failed()

    @property
    def auth_failing(self) -> bool:
        return self._sink is not None and self._sink.auth_failing

    @property
    def failing_connections(self) -> tuple[str, ...]:
        return () if self._sink is None else self._sink.failing_connections

    @property
    def stripped_fields(self) -> tuple[StrippedField, ...]:
        return () if self._sink is None else self._sink.stripped_fields

    def _open_sink(self) -> Sink:
        if self._sink is None:
            raise RuntimeError("the sink is used outside `with SinkThread(...)`")
        return self._sink


def _add_all(sink: Sink, items: list[SinkItem]) -> None:
    for item in items:
        sink.add(item)
