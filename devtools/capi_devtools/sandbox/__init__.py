"""A local emulator of the Spotify Conversions API, for the demo, the tests and the benchmarks.

    async with SandboxServer(SandboxSettings()) as sandbox:   # sandbox.url, .admin_url, .state
    with SandboxThread() as sandbox:                          # the same, beside synchronous code
    SandboxAdmin(sandbox.admin_url).stats()                   # from any thread or process

The events endpoint is as strict as Spotify's published contract (docs/decisions.md); faults are
injected on demand (latency, 429/500/503, dropped connections, a rate limit, outages).
"""

from capi_devtools.sandbox.admin_client import SandboxAdmin
from capi_devtools.sandbox.app import ADMIN_PREFIX, EVENTS_PATH, TRACE_ID_HEADER
from capi_devtools.sandbox.server import SandboxServer, SandboxThread
from capi_devtools.sandbox.settings import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_TOKEN,
    FaultSettings,
    SandboxSettings,
)
from capi_devtools.sandbox.state import SandboxState, Stats

__all__ = [
    "ADMIN_PREFIX",
    "DEFAULT_CONNECTION_ID",
    "DEFAULT_TOKEN",
    "EVENTS_PATH",
    "TRACE_ID_HEADER",
    "FaultSettings",
    "SandboxAdmin",
    "SandboxServer",
    "SandboxSettings",
    "SandboxState",
    "SandboxThread",
    "Stats",
]
