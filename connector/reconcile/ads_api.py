"""A reader of Spotify's Ads API v3: a dataset and its diagnostics, with an OAuth access token.

- The access token comes from `ads_api.token_url` (Spotify's accounts service): a form POST with
  `grant_type=refresh_token`, the client authenticated with HTTP Basic; it is kept until a minute
  before `expires_in` runs out, and fetched again on a 401. A new `refresh_token` in the answer
  (rotation) is used from then on, in memory.
- GETs are retried as Spotify's guides say: network errors and 5xx with backoff, 429 after its
  `Retry-After` (capped at a minute); `ads_api.max_attempts` in all. Other 4xx are final.
- No secret (client secret, refresh or access token) is ever in a message or a log line; errors
  carry the status, Spotify's messages and its `sp_trace_id`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from connector.config import AdsApiSettings
from connector.errors import ConnectorError

_REFRESH_BEFORE_S = 60.0  # fetch a new access token this long before the old one expires
_RETRY_AFTER_MAX_S = 60.0
_BACKOFF_INITIAL_S = 0.5
_BACKOFF_MAX_S = 10.0

Sleep = Callable[[float], Awaitable[None]]


class AdsApiRefused(ConnectorError):
    """The Ads API or the OAuth service refused the request for good (credentials, ids, rights):
    a setting to fix, exit 2."""

    exit_code = 2


class AdsApiUnavailable(ConnectorError):
    """The Ads API did not answer usefully within its attempts (network, 5xx, 429), exit 3."""

    exit_code = 3


class AdsApi:
    def __init__(
        self,
        settings: AdsApiSettings,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._session = session
        self._clock = clock
        self._sleep = sleep
        self._access_token: str | None = None
        self._expires_at = 0.0
        secret = settings.refresh_token
        self._refresh_token = "" if secret is None else secret.get_secret_value()

    async def dataset(self, business_id: str, dataset_id: str) -> dict[str, Any]:
        return await self._get(f"/businesses/{business_id}/datasets/{dataset_id}", {})

    async def diagnostics(
        self, business_id: str, dataset_id: str, granularity: str
    ) -> dict[str, Any]:
        """`GET .../diagnostics?granularities=<HOURLY|DAILY>`: one granularity a call, as the
        guides call it."""
        path = f"/businesses/{business_id}/datasets/{dataset_id}/diagnostics"
        return await self._get(path, {"granularities": granularity})

    # --- requests ------------------------------------------------------------------------------

    async def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = self._settings.url.rstrip("/") + path
        refreshed = False
        for attempt in range(1, self._settings.max_attempts + 1):
            token = await self._token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            answer = await self._send("GET", url, params=params, headers=headers)
            if answer is None:  # the network failed
                await self._backoff(attempt, None, f"GET {path}")
                continue
            status, body, retry_after = answer
            if status == 200 and isinstance(body, dict):
                return body
            if status == 401 and not refreshed:  # expired early, or revoked: once more, fresh
                self._access_token, refreshed = None, True
                continue
            if status == 429 or status >= 500:
                await self._backoff(attempt, retry_after, f"GET {path} answered {status}")
                continue
            raise AdsApiRefused(f"the Ads API refused GET {path}: {_describe(status, body)}")
        raise AdsApiUnavailable(
            f"the Ads API did not answer GET {path} in {self._settings.max_attempts} attempts"
        )

    async def _token(self) -> str:
        if self._access_token is not None and self._clock() < self._expires_at:
            return self._access_token
        settings = self._settings
        client_id = settings.client_id or ""
        secret = "" if settings.client_secret is None else settings.client_secret.get_secret_value()
        form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        for attempt in range(1, settings.max_attempts + 1):
            answer = await self._send(
                "POST",
                settings.token_url,
                data=form,
                headers={"Authorization": aiohttp.encode_basic_auth(client_id, secret)},
            )
            if answer is None:
                await self._backoff(attempt, None, "the OAuth token request")
                continue
            status, body, retry_after = answer
            if (
                status == 200
                and isinstance(body, dict)
                and isinstance(body.get("access_token"), str)
            ):
                return self._keep(body)
            if status == 429 or status >= 500:
                await self._backoff(attempt, retry_after, f"the OAuth token request ({status})")
                continue
            error = body.get("error") if isinstance(body, dict) else None
            raise AdsApiRefused(
                f"Spotify's accounts service refused the refresh token ({status} "
                f"{error or 'no error code'}): check ads_api.client_id, client_secret and "
                "refresh_token"
            )
        raise AdsApiUnavailable(
            f"Spotify's accounts service did not answer in {settings.max_attempts} attempts"
        )

    def _keep(self, body: dict[str, Any]) -> str:
        token = str(body["access_token"])
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) else 3600.0
        self._access_token = token
        self._expires_at = self._clock() + max(0.0, lifetime - _REFRESH_BEFORE_S)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self._refresh_token = rotated
        return token

    async def _send(
        self, method: str, url: str, **options: Any
    ) -> tuple[int, Any, float | None] | None:
        """(status, JSON body or None, Retry-After seconds), or None when the network failed."""
        timeout = aiohttp.ClientTimeout(total=self._settings.request_timeout_s)
        try:
            async with self._session.request(method, url, timeout=timeout, **options) as response:
                try:
                    body: Any = await response.json(content_type=None)
                except ValueError:
                    body = None
                return response.status, body, _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _backoff(self, attempt: int, retry_after: float | None, what: str) -> None:
        if attempt >= self._settings.max_attempts:
            raise AdsApiUnavailable(
                f"{what}: no answer after {self._settings.max_attempts} attempts"
            )
        wait = min(_BACKOFF_MAX_S, _BACKOFF_INITIAL_S * 2 ** (attempt - 1))
        if retry_after is not None:
            wait = min(retry_after, _RETRY_AFTER_MAX_S)
        await self._sleep(wait)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff decides


def _describe(status: int, body: Any) -> str:
    """Status, Spotify's messages and error codes (either casing), and its trace id."""
    if not isinstance(body, dict):
        return str(status)
    messages = body.get("messages") or []
    codes = body.get("error_codes") or body.get("errorCodes") or []
    names = [c.get("code") if isinstance(c, dict) else c for c in codes]
    parts = [str(status), *(str(m) for m in messages), *(str(n) for n in names if n)]
    trace = body.get("sp_trace_id")
    return " ".join(parts) + (f" (sp_trace_id {trace})" if trace else "")
