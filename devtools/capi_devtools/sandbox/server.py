"""Run the sandbox in an async test (`SandboxServer`) or beside synchronous code (`SandboxThread`).

Two listening sockets serve the same application: the events port (`url`), which a `refuse`
outage really closes and opens again on the same port, and the admin port (`admin_url`), which
stays up so a test can watch and steer the sandbox during the outage. The events port also
serves the Ads API (`ads_url`, `token_url`); `ads_clock` replaces its wall clock in tests.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from capi_devtools.sandbox.ads_api import ADS_API_PREFIX, TOKEN_PATH
from capi_devtools.sandbox.app import ADMIN_PREFIX, EVENTS_PATH, create_app
from capi_devtools.sandbox.faults import Clock
from capi_devtools.sandbox.runtime import SandboxRuntime
from capi_devtools.sandbox.settings import OutageMode, SandboxSettings, apply_changes
from capi_devtools.sandbox.state import SandboxState
from connector.process.net import listen
from connector.process.service import Service

T = TypeVar("T")


class SandboxServer:
    def __init__(
        self, settings: SandboxSettings | None = None, *, ads_clock: Clock = time.time
    ) -> None:
        self.settings = settings or SandboxSettings()
        self.runtime = SandboxRuntime(self.settings, listener=self, ads_clock=ads_clock)
        self._runner: web.AppRunner | None = None
        self._events_site: web.SockSite | None = None
        self._listening: dict[web.SockSite, socket.socket] = {}
        self._tls = _server_tls(self.settings)
        self.port = self.settings.port
        self.admin_port = self.settings.admin_port

    @property
    def url(self) -> str:
        """The events endpoint, with its trailing slash, as a connector is configured with it."""
        return self._events_origin + EVENTS_PATH

    @property
    def ads_url(self) -> str:
        """The Ads API's base URL, as Spotify's `https://api-partner.spotify.com/ads/v3`."""
        return self._events_origin + ADS_API_PREFIX

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint, as Spotify's `https://accounts.spotify.com/api/token`."""
        return self._events_origin + TOKEN_PATH

    @property
    def _events_origin(self) -> str:
        scheme = "http" if self._tls is None else "https"
        return f"{scheme}://{_host_in_url(self.settings.host)}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://{_host_in_url(self.settings.host)}:{self.admin_port}{ADMIN_PREFIX}/"

    @property
    def state(self) -> SandboxState:
        return self.runtime.state

    async def start(self) -> None:
        runner = self._runner = web.AppRunner(
            create_app(self.runtime), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        events_socket = listen(self.settings.host, self.port)
        self.port = events_socket.getsockname()[1]
        admin_socket = listen(self.settings.host, self.admin_port)
        self.admin_port = admin_socket.getsockname()[1]
        self._events_site = await self._open_site(runner, events_socket, self._tls)
        await self._open_site(runner, admin_socket, None)

    async def stop(self) -> None:
        self.runtime.listener = None  # an outage ending now must not reopen the port
        await self.runtime.end_outage()
        if self._runner is not None:
            for site in list(self._listening):
                await self._close_site(site)
            await self._runner.cleanup()
            self._runner = None

    async def _open_site(
        self, runner: web.AppRunner, sock: socket.socket, tls: ssl.SSLContext | None
    ) -> web.SockSite:
        site = web.SockSite(runner, sock, ssl_context=tls)
        await site.start()
        self._listening[site] = sock
        return site

    async def _close_site(self, site: web.SockSite) -> None:
        """Stop accepting first, then close: a connection accepted one loop turn before its
        server closes would leak its socket (CPython gh-109564). Accepts already taken get the
        turns they need (task step, then connection_made) to attach while the server is open."""
        asyncio.get_running_loop().remove_reader(self._listening.pop(site).fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        await site.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- steering, the in-process equivalents of the admin API -------------------------------

    def configure(self, **changes: Any) -> SandboxSettings:
        """Change settings while serving, e.g. `configure(faults={"share_500": 0.3, "seed": 1})`."""
        updated = apply_changes(self.runtime.settings, changes)
        self.runtime.configure(updated, reseed="faults" in changes)
        return updated

    async def start_outage(self, seconds: float, mode: OutageMode = "refuse") -> None:
        await self.runtime.start_outage(seconds, mode)

    async def end_outage(self) -> None:
        await self.runtime.end_outage()

    def throttle_ads_api(self, requests: int, retry_after_s: int = 1) -> None:
        """Answer the next `requests` Ads API requests (token, dataset, diagnostics) with 429."""
        self.runtime.state.ads.throttle(requests, retry_after_s)

    # --- Listener: what a `refuse` outage does to the events port ---------------------------

    async def suspend(self) -> None:
        if self._events_site is not None:
            await self._close_site(self._events_site)
            self._events_site = None

    async def resume(self) -> None:
        if self._events_site is None and self._runner is not None:
            self._events_site = await self._open_site(
                self._runner, listen(self.settings.host, self.port), self._tls
            )


class SandboxThread(Service):
    """A SandboxServer on its own event loop in a daemon thread, for synchronous callers."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        start_timeout_s: float = 10.0,
        *,
        ads_clock: Clock = time.time,
    ):
        self.settings = settings or SandboxSettings()
        self._start_timeout_s = start_timeout_s
        self._loop = asyncio.new_event_loop()
        self._server = SandboxServer(self.settings, ads_clock=ads_clock)
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="capi-sandbox", daemon=True)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def admin_url(self) -> str:
        return self._server.admin_url

    @property
    def ads_url(self) -> str:
        return self._server.ads_url

    @property
    def token_url(self) -> str:
        return self._server.token_url

    @property
    def state(self) -> SandboxState:
        return self._server.state  # thread-safe to read: SandboxState locks

    @property
    def server(self) -> SandboxServer:
        return self._server

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(self._start_timeout_s):
            raise TimeoutError("the sandbox did not start in time")
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    def stop(self) -> None:
        if self._thread.is_alive() and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(self._start_timeout_s)

    def call(self, action: Callable[[SandboxServer], Awaitable[T]], timeout_s: float = 10.0) -> T:
        """Run `action(server)` on the sandbox's loop and wait for its result."""

        async def run() -> T:
            return await action(self._server)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout_s)

    def configure(self, **changes: Any) -> SandboxSettings:
        async def apply(server: SandboxServer) -> SandboxSettings:
            return server.configure(**changes)

        return self.call(apply)

    def start_outage(self, seconds: float, mode: OutageMode = "refuse") -> None:
        self.call(lambda server: server.start_outage(seconds, mode))

    def end_outage(self) -> None:
        self.call(lambda server: server.end_outage())

    def throttle_ads_api(self, requests: int, retry_after_s: int = 1) -> None:
        self._server.throttle_ads_api(requests, retry_after_s)  # AdsState locks: any thread

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        try:
            await self._server.start()
        except BaseException as exc:  # reported to the starting thread, which raises it
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._server.stop()


def _server_tls(settings: SandboxSettings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
