"""One POST of one batch: an HTTP answer or a transport failure, never an exception.

Texts that leave this module (answer bodies, failure messages) pass through `redact`, so the
token cannot leak even if a server or a library echoes the request headers back.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from connector.sink.heal import named_event_fields, named_fields

MAX_MESSAGE_CHARS = 1000
_MAX_READ_BYTES = 64 * 1024  # Spotify's answers are small; do not buffer a runaway body
# Spotify's error bodies carry `sp_trace_id` (Ads API ErrorResponse); no header name is
# published, so these are read as a fallback only.
_TRACE_HEADERS = ("sp-trace-id", "x-sp-trace-id", "sp_trace_id")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    message: str  # the body as text, trimmed and redacted
    retry_after: str | None
    sp_trace_id: str | None
    named_fields: tuple[str, ...] = ()  # contract fields a 400 names (see connector.sink.heal)
    # (event index in the batch, contract path) where a 400 ties a field to one event
    named_events: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TransportFailure:
    cause: str  # "timeout" or "connection"
    message: str


async def post_batch(
    session: aiohttp.ClientSession,
    *,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    timeout_s: float,
    redact: Callable[[str], str],
) -> Answer | TransportFailure:
    try:
        # BytesIO, not bytes: aiohttp warns that a raw bytes body over 1 MiB may block the loop.
        data = io.BytesIO(body)
        async with session.post(url, data=data, headers=headers, allow_redirects=False) as resp:
            raw = await resp.content.read(_MAX_READ_BYTES)
            parsed = _json(raw)
            return Answer(
                status=resp.status,
                message=trim(redact(raw.decode("utf-8", errors="replace"))),
                retry_after=resp.headers.get("Retry-After"),
                sp_trace_id=_trace_id(parsed, resp.headers),
                named_fields=named_fields(parsed) if resp.status == 400 else (),
                named_events=named_event_fields(parsed) if resp.status == 400 else (),
            )
    except TimeoutError:  # aiohttp's timeouts are TimeoutError subclasses
        return TransportFailure("timeout", f"no answer within {timeout_s:g}s")
    except (aiohttp.ClientError, OSError) as exc:
        return TransportFailure("connection", trim(redact(f"{type(exc).__name__}: {exc}")))


def trim(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 1] + "…"


def _json(raw: bytes) -> object:
    """The body as JSON when it is an object (Spotify's error bodies are); else None."""
    if not raw.lstrip().startswith(b"{"):
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _trace_id(body: object, headers: Mapping[str, str]) -> str | None:
    if isinstance(body, dict):
        value = body.get("sp_trace_id")
        if isinstance(value, str) and value:
            return value[:200]
    for name in _TRACE_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    return None
