"""`with thing:` for what the connector starts and stops: the health server, the sandbox, the local
broker and registry. Subclasses say how to start and stop; this says when."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Service(ABC):
    @abstractmethod
    def start(self) -> None:
        """Start, and return once the service answers."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and release everything; safe to call after a failed start."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
