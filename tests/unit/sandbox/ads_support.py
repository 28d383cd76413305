"""A settable clock and a small client of the sandbox's Ads API, for the Ads API tests."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from capi_devtools.sandbox import (
    DEFAULT_ADS_CLIENT_ID,
    DEFAULT_ADS_CLIENT_SECRET,
    DEFAULT_ADS_REFRESH_TOKEN,
    DEFAULT_BUSINESS_ID,
    DEFAULT_DATASET_ID,
    SandboxServer,
)
from tests.unit.sandbox.conftest import Answer, good_event

BASIC = (DEFAULT_ADS_CLIENT_ID, DEFAULT_ADS_CLIENT_SECRET)
REFRESH = {"grant_type": "refresh_token", "refresh_token": DEFAULT_ADS_REFRESH_TOKEN}


class FakeClock:
    """Epoch seconds that move only when told: the Ads API's arrivals, delay and expiry."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def set(self, iso: str) -> None:
        self.now = epoch_s(iso)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def epoch_s(iso: str) -> float:
    """`2026-01-23T12:34:56.250Z` → epoch seconds (exact for binary fractions like .25)."""
    return datetime.fromisoformat(iso).timestamp()


def epoch_ms(iso: str) -> int:
    return round(epoch_s(iso) * 1000)


def event(event_id: str, name: str = "VIEW") -> dict[str, Any]:
    """A valid event of any name (a PURCHASE carries its amount and currency)."""
    if name == "PURCHASE":
        return good_event(
            event_id, event_name=name, event_details={"amount": 1.0, "currency": "USD"}
        )
    return good_event(event_id, event_name=name)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class AdsClient:
    def __init__(self, session: aiohttp.ClientSession, sandbox: SandboxServer) -> None:
        self.session = session
        self.sandbox = sandbox

    async def token(
        self, form: dict[str, str] | None = None, auth: tuple[str, str] | None = BASIC
    ) -> Answer:
        headers = {} if auth is None else {"Authorization": basic(*auth)}
        data = REFRESH if form is None else form
        async with self.session.post(self.sandbox.token_url, data=data, headers=headers) as r:
            return Answer(r.status, orjson.loads(await r.read()), dict(r.headers))

    async def access_token(self) -> str:
        answer = await self.token()
        assert answer.status == 200, answer
        return str(answer.body["access_token"])

    async def get(
        self, path: str, token: str | None, params: list[tuple[str, str]] | None = None
    ) -> Answer:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        url = self.sandbox.ads_url + path
        async with self.session.get(url, params=params or [], headers=headers) as r:
            return Answer(r.status, orjson.loads(await r.read()), dict(r.headers))

    async def diagnostics(
        self,
        token: str | None,
        *granularities: str,
        dataset_id: str = DEFAULT_DATASET_ID,
        business_id: str = DEFAULT_BUSINESS_ID,
        more: list[tuple[str, str]] | None = None,
    ) -> Answer:
        params = [("granularities", g) for g in granularities] + (more or [])
        path = f"/businesses/{business_id}/datasets/{dataset_id}/diagnostics"
        return await self.get(path, token, params)

    async def dataset(
        self,
        token: str | None,
        dataset_id: str = DEFAULT_DATASET_ID,
        business_id: str = DEFAULT_BUSINESS_ID,
    ) -> Answer:
        return await self.get(f"/businesses/{business_id}/datasets/{dataset_id}", token)
