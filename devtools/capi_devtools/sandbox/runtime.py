"""The sandbox's live behaviour: settings that change at run time, faults, outage, state."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from aiohttp import web

from capi_devtools.sandbox.faults import Clock, FaultInjector, Outage
from capi_devtools.sandbox.settings import OutageMode, SandboxSettings
from capi_devtools.sandbox.state import SandboxState


class Listener(Protocol):
    """The listening socket of the events endpoint, which a `refuse` outage closes."""

    async def suspend(self) -> None: ...

    async def resume(self) -> None: ...


class SandboxRuntime:
    """Shared by the handlers of one server; only touched from the server's event loop."""

    def __init__(
        self,
        settings: SandboxSettings,
        listener: Listener | None = None,
        ads_clock: Clock = time.time,
    ) -> None:
        self.state = SandboxState(settings.keep_bodies, settings.max_kept_bodies, ads_clock)
        self.listener = listener
        self.outage: Outage | None = None
        self._outage_timer: asyncio.TimerHandle | None = None
        self._resume_task: asyncio.Task[None] | None = None
        self.settings = settings
        self.faults = FaultInjector(settings.faults)
        self._faults_set_at = time.monotonic()
        self._apply(settings)

    def configure(self, settings: SandboxSettings, *, reseed: bool = False) -> None:
        """Swap settings while serving; a new fault section (or `reseed`) restarts its sequence."""
        if reseed or settings.faults != self.settings.faults:
            self.faults = FaultInjector(settings.faults)
            self._faults_set_at = time.monotonic()
        self.settings = settings
        self._apply(settings)

    def refused_user_data_now(self, now: float) -> frozenset[str]:
        """The user_data keys refused at monotonic time `now` (`refuse_for_s` ends them)."""
        refuse_for_s = self.settings.faults.refuse_for_s
        if refuse_for_s is not None and now >= self._faults_set_at + refuse_for_s:
            return frozenset()
        return self.refused_user_data

    def _apply(self, settings: SandboxSettings) -> None:
        self.tokens = settings.token_values()
        self.connection_ids = frozenset(settings.connection_ids)
        self.refused_user_data = frozenset(settings.faults.refuse_user_data_keys)
        self.state.keep_bodies = settings.keep_bodies
        self.state.max_kept_bodies = settings.max_kept_bodies
        self.state.ads.set_loss(settings.ads_diagnostics_loss)

    async def start_outage(self, seconds: float, mode: OutageMode) -> None:
        await self.end_outage()
        loop = asyncio.get_running_loop()
        self.outage = Outage(mode=mode, ends_at=time.monotonic() + seconds)
        if mode == "refuse" and self.listener is not None:
            await self.listener.suspend()
        self._outage_timer = loop.call_later(seconds, self._outage_over)

    def _outage_over(self) -> None:
        self._outage_timer = None
        self._resume_task = asyncio.ensure_future(self.end_outage())

    async def end_outage(self) -> None:
        if self._outage_timer is not None:
            self._outage_timer.cancel()
            self._outage_timer = None
        outage, self.outage = self.outage, None
        if outage is not None and outage.mode == "refuse" and self.listener is not None:
            await self.listener.resume()


RUNTIME = web.AppKey("sandbox_runtime", SandboxRuntime)
