"""Several Spotify connections behind one sink: each item goes to its connection's own sink.

Each connection keeps its own token, headers, auth hold and adaptive limit: a 401/403 on one
holds only that connection's items while the others keep sending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import TracebackType

from connector.sink.items import SinkItem
from connector.sink.learned import StrippedField
from connector.sink.spotify_sink import SpotifySink


class ConnectionSinks:
    def __init__(self, sinks: Mapping[str, SpotifySink]) -> None:
        if not sinks:
            raise ValueError("at least one connection is needed")
        self._sinks = dict(sinks)
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> ConnectionSinks:
        async with AsyncExitStack() as stack:
            for sink in self._sinks.values():
                await stack.enter_async_context(sink)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    @property
    def auth_failing(self) -> bool:
        """True when every connection is refused: then nothing can be sent at all."""
        return all(sink.auth_failing for sink in self._sinks.values())

    @property
    def failing_connections(self) -> tuple[str, ...]:
        return tuple(name for name, sink in self._sinks.items() if sink.auth_failing)

    @property
    def stripped_fields(self) -> tuple[StrippedField, ...]:
        return tuple(field for sink in self._sinks.values() for field in sink.stripped_fields)

    def add(self, item: SinkItem) -> None:
        self._sinks[item.connection].add(item)

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - the port's
        """Flush every connection at once, within the same timeout; True if all drained."""
        drained = await asyncio.gather(*(s.flush(timeout) for s in self._sinks.values()))
        return all(drained)

    def raise_if_failed(self) -> None:
        for sink in self._sinks.values():
            sink.raise_if_failed()
