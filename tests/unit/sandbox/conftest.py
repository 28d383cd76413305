"""A real sandbox on loopback per test, a client session, and known-good payloads to break."""

from __future__ import annotations

import copy
import hashlib
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from capi_devtools.sandbox import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_TOKEN,
    SandboxServer,
    SandboxSettings,
)

EMAIL_HASH = hashlib.sha256(b"jane@example.com").hexdigest()
PHONE_HASH = hashlib.sha256(b"+15551234567").hexdigest()

# The example request of Spotify's published contract, with real hashes for the placeholders.
CONTRACT_EXAMPLE: dict[str, Any] = {
    "conversion_events": {
        "capi_connection_id": DEFAULT_CONNECTION_ID,
        "events": [
            {
                "event_id": "order-0001",
                "event_name": "PURCHASE",
                "event_time": "2026-01-23T12:34:56.000Z",
                "action_source": "WEB",
                "opt_out_targeting": True,
                "event_source_url": "https://shop.example/thanks",
                "user_data": {
                    "ip_address": "203.0.113.12",
                    "device_id": "raw-device-id",
                    "hashed_emails": [EMAIL_HASH],
                    "hashed_phone_number": PHONE_HASH,
                },
                "event_details": {
                    "amount": 100.0,
                    "currency": "USD",
                    "content_name": "Shoes",
                    "content_category": "166",  # Apparel & Accessories
                },
            }
        ],
    }
}


def good_event(event_id: str = "evt-1", **fields: Any) -> dict[str, Any]:
    """A minimal valid event; keyword arguments replace or add top-level fields."""
    event: dict[str, Any] = {
        "event_id": event_id,
        "event_name": "VIEW",
        "event_time": "2026-01-23T12:34:56.000Z",
        "user_data": {"hashed_emails": [EMAIL_HASH]},
    }
    event.update(fields)
    return event


def envelope(events: list[Any], connection_id: str = DEFAULT_CONNECTION_ID) -> dict[str, Any]:
    return {"conversion_events": {"capi_connection_id": connection_id, "events": events}}


def contract_example() -> dict[str, Any]:
    return copy.deepcopy(CONTRACT_EXAMPLE)


BOTH_ERROR_BODIES = pytest.mark.parametrize(
    "settings",
    [SandboxSettings(), SandboxSettings(error_body="detailed")],
    ids=["error_response", "detailed"],
)
_WHERE = re.compile(r"(?:events\[(\d+)\]\.?)?([^:\s]*): ")


def problems(body: dict[str, Any]) -> list[tuple[int | None, str, str]]:
    """(event index, field, code) of each problem an error body lists, in either form."""
    if "errors" in body:
        return [(e["index"], e["field"], e["code"]) for e in body["errors"]]
    found = []
    for message, code in zip(body["messages"], body["error_codes"], strict=True):
        where = _WHERE.match(message)
        if where is not None:
            index = None if where[1] is None else int(where[1])
            found.append((index, where[2], code))
    return found


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


Post = Callable[..., Awaitable[Answer]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def settings() -> SandboxSettings:
    return SandboxSettings()


@pytest.fixture
async def sandbox(settings: SandboxSettings) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(settings) as server:
        yield server


@pytest.fixture
def post(sandbox: SandboxServer, session: aiohttp.ClientSession) -> Post:
    """`await post(payload)` → Answer; `token=None` sends no Authorization header."""

    async def send(
        payload: Any, token: str | None = DEFAULT_TOKEN, raw: bytes | None = None
    ) -> Answer:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else orjson.dumps(payload)
        # BytesIO: aiohttp warns (an error here) about large raw bytes bodies.
        async with session.post(sandbox.url, data=io.BytesIO(data), headers=headers) as response:
            text = await response.read()
            body = orjson.loads(text) if text else None
            return Answer(response.status, body, dict(response.headers))

    return send
