"""A local emulator of the Spotify Conversions API, for the demo, the tests and the benchmarks.

    async with SandboxServer(SandboxSettings()) as sandbox:   # sandbox.url, .admin_url, .state
    with SandboxThread() as sandbox:                          # the same, beside synchronous code
    SandboxAdmin(sandbox.admin_url).stats()                   # from any thread or process

The events endpoint is as strict as Spotify's published contract (docs/decisions.md); faults are
injected on demand (latency, 429/500/503, dropped connections, a rate limit, outages).
The same port serves the Ads API slice `reconcile` reads (`sandbox.token_url`, `sandbox.ads_url`):
an OAuth refresh grant, a dataset and its diagnostics, counted from the accepted events.
"""

from capi_devtools.sandbox.admin_client import SandboxAdmin
from capi_devtools.sandbox.ads_api import (
    ADS_API_PREFIX,
    DATASET_PATH,
    DIAGNOSTICS_PATH,
    TOKEN_PATH,
)
from capi_devtools.sandbox.app import ADMIN_PREFIX, EVENTS_PATH, TRACE_ID_HEADER
from capi_devtools.sandbox.diagnostics import DIAGNOSTIC_NAMES, diagnostic_name
from capi_devtools.sandbox.server import SandboxServer, SandboxThread
from capi_devtools.sandbox.settings import (
    DEFAULT_ADS_CLIENT_ID,
    DEFAULT_ADS_CLIENT_SECRET,
    DEFAULT_ADS_REFRESH_TOKEN,
    DEFAULT_BUSINESS_ID,
    DEFAULT_CONNECTION_ID,
    DEFAULT_DATASET_ID,
    DEFAULT_TOKEN,
    FaultSettings,
    SandboxSettings,
)
from capi_devtools.sandbox.state import SandboxState, Stats

__all__ = [
    "ADMIN_PREFIX",
    "ADS_API_PREFIX",
    "DATASET_PATH",
    "DEFAULT_ADS_CLIENT_ID",
    "DEFAULT_ADS_CLIENT_SECRET",
    "DEFAULT_ADS_REFRESH_TOKEN",
    "DEFAULT_BUSINESS_ID",
    "DEFAULT_CONNECTION_ID",
    "DEFAULT_DATASET_ID",
    "DEFAULT_TOKEN",
    "DIAGNOSTICS_PATH",
    "DIAGNOSTIC_NAMES",
    "EVENTS_PATH",
    "TOKEN_PATH",
    "TRACE_ID_HEADER",
    "FaultSettings",
    "SandboxAdmin",
    "SandboxServer",
    "SandboxSettings",
    "SandboxState",
    "SandboxThread",
    "Stats",
    "diagnostic_name",
]
