"""The emulated `POST /capi-direct/events/` and the aiohttp application that serves it.

Answers, where Spotify publishes nothing (see docs/decisions.md, "Sandbox (local Spotify)"):
- Success is exactly `{"message": "SUCCESS"}`. Every answer carries the trace id in the
  `sp-trace-id` header; error bodies also carry it as `sp_trace_id`, as the Ads API's do.
- An error body is, by default, the Ads API's published ErrorResponse: `{"sp_trace_id",
  "messages": ["events[1].event_details.amount: amount must be a number", ...],
  "error_codes": ["NOT_A_NUMBER", ...]}`, one message and code per problem (or the answer's own
  code when it lists none). `error_body: detailed` sends `{"message": <CODE>, "errors":
  [{"index", "field", "code", "message"}], "sp_trace_id"}` instead; `index` is the event's place
  in `events` (null for the envelope). Nothing in either quotes the token or a submitted value.
- Order of checks: outage, faults (rate limit, random shares), latency, then the request:
  token (401), body size (413), JSON and envelope (400), connection id (403), event count
  (413), every event (400). Only a 200 records anything as accepted.
The same app serves the Ads API slice the connector's `reconcile` reads (ads_api.py); accepted
events feed its diagnostics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from capi_devtools.sandbox.admin import admin_routes
from capi_devtools.sandbox.ads_api import ads_routes
from capi_devtools.sandbox.faults import Fault
from capi_devtools.sandbox.runtime import RUNTIME, SandboxRuntime
from capi_devtools.sandbox.state import DROPPED
from capi_devtools.sandbox.validation import (
    Envelope,
    Problem,
    TimeRules,
    check_events,
    check_light,
    parse_envelope,
)

EVENTS_PATH = "/capi-direct/events/"
ADMIN_PREFIX = "/_sandbox"
TRACE_ID_HEADER = "sp-trace-id"
HARD_BODY_LIMIT = 64 * 1024 * 1024  # what aiohttp reads at most; max_body_bytes is below it

_SUCCESS = orjson.dumps({"message": "SUCCESS"})


def create_app(runtime: SandboxRuntime) -> web.Application:
    app = web.Application(client_max_size=HARD_BODY_LIMIT)
    app[RUNTIME] = runtime
    app.router.add_post(EVENTS_PATH, post_events)
    app.router.add_routes(admin_routes(ADMIN_PREFIX))
    app.router.add_routes(ads_routes())
    app.on_response_prepare.append(_ensure_trace_id)
    return app


async def _ensure_trace_id(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp's own answers (404 for a path without its trailing slash, 405) get one too."""
    if TRACE_ID_HEADER not in response.headers:
        response.headers[TRACE_ID_HEADER] = uuid.uuid4().hex


async def post_events(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    runtime.state.record_arrival(time.time())
    trace_id = uuid.uuid4().hex
    outage = runtime.outage
    if outage is not None and outage.active(now := time.monotonic()):
        if outage.mode == "refuse":
            return await _drop(request, runtime)
        return _error(
            runtime, 503, "SERVICE_UNAVAILABLE", trace_id, retry_after_s=outage.retry_after_s(now)
        )
    fault = runtime.faults.decide()
    delay = runtime.faults.latency_s()
    if delay > 0:
        await asyncio.sleep(delay)
    if fault is not None:
        return await _inject(request, runtime, fault, trace_id)
    return await _serve(request, runtime, trace_id)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str
    problems: list[Problem]


async def _serve(request: web.Request, runtime: SandboxRuntime, trace_id: str) -> web.Response:
    try:
        body: bytes | None = await request.read()
    except web.HTTPRequestEntityTooLarge:
        body = None  # over even the hard limit
    envelope = _read_envelope(request.headers.get("Authorization"), body, runtime)
    refusal = envelope if isinstance(envelope, Refusal) else _check_batch(envelope, runtime)
    if refusal is not None:
        problems = refusal.problems
        if refusal.status == 400 and not runtime.settings.detailed_errors:
            problems = []
        return _error(runtime, refusal.status, refusal.message, trace_id, problems=problems)
    assert isinstance(envelope, Envelope)  # noqa: S101 - a Refusal returned above
    runtime.state.record_accepted(envelope.events, envelope.connection_id, time.time())
    delay_s = runtime.settings.ads_diagnostics_delay_s
    runtime.state.ads.record_accepted(envelope.connection_id, envelope.events, delay_s)
    runtime.state.record_response(200)
    return web.Response(
        body=_SUCCESS, content_type="application/json", headers={TRACE_ID_HEADER: trace_id}
    )


def _read_envelope(
    authorization: str | None, body: bytes | None, runtime: SandboxRuntime
) -> Envelope | Refusal:
    if not _authorized(authorization, runtime.tokens):
        problem = Problem(None, "Authorization", "BAD_TOKEN", "missing or unknown bearer token")
        return Refusal(401, "UNAUTHORIZED", [problem])
    limit = runtime.settings.max_body_bytes
    if body is None or len(body) > limit:
        problem = Problem(None, "body", "BODY_TOO_LARGE", f"the body is over {limit} bytes")
        return Refusal(413, "PAYLOAD_TOO_LARGE", [problem])
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Refusal(400, "INVALID_REQUEST", [Problem(None, "body", "INVALID_JSON", "not JSON")])
    envelope = parse_envelope(payload)
    return envelope if isinstance(envelope, Envelope) else Refusal(400, "INVALID_REQUEST", envelope)


def _check_batch(envelope: Envelope, runtime: SandboxRuntime) -> Refusal | None:
    settings = runtime.settings
    if envelope.connection_id not in runtime.connection_ids:
        field = "conversion_events.capi_connection_id"
        return Refusal(403, "FORBIDDEN", [Problem(None, field, "UNKNOWN_CONNECTION", "unknown")])
    events = envelope.events
    if len(events) > settings.max_events_per_request:
        message = f"more than {settings.max_events_per_request} events in one request"
        problem = Problem(None, "conversion_events.events", "TOO_MANY_EVENTS", message)
        return Refusal(413, "PAYLOAD_TOO_LARGE", [problem])
    if settings.validation == "light":
        problems = check_light(events)
    else:
        rules = TimeRules(time.time(), settings.max_clock_skew_s, settings.max_event_age_s)
        refused = runtime.refused_user_data_now(time.monotonic())
        problems = check_events(events, rules, refused)
    return Refusal(400, "INVALID_REQUEST", problems) if problems else None


async def _inject(
    request: web.Request, runtime: SandboxRuntime, fault: Fault, trace_id: str
) -> web.StreamResponse:
    retry_after = runtime.settings.faults.retry_after_s
    if fault is Fault.DROP:
        return await _drop(request, runtime)
    await request.read()  # take the body off the connection so keep-alive stays usable
    if fault in (Fault.RATE_LIMITED, Fault.TOO_MANY_REQUESTS):
        return _error(runtime, 429, "TOO_MANY_REQUESTS", trace_id, retry_after_s=retry_after)
    if fault is Fault.UNAVAILABLE:
        return _error(runtime, 503, "SERVICE_UNAVAILABLE", trace_id, retry_after_s=retry_after)
    return _error(runtime, 500, "INTERNAL_ERROR", trace_id)


async def _drop(request: web.Request, runtime: SandboxRuntime) -> web.StreamResponse:
    """Close the connection without an answer, as a crashed proxy or a network cut would."""
    runtime.state.record_response(DROPPED)
    with contextlib.suppress(web.HTTPRequestEntityTooLarge):
        await request.read()
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp must not write a response on the aborted transport: end the handler quietly.
    raise asyncio.CancelledError


def _authorized(header: str | None, tokens: frozenset[str]) -> bool:
    if header is None:
        return False
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and token in tokens


def _error(
    runtime: SandboxRuntime,
    status: int,
    message: str,
    trace_id: str,
    *,
    retry_after_s: int | None = None,
    problems: list[Problem] | None = None,
) -> web.Response:
    runtime.state.record_response(status)
    if runtime.settings.error_body == "detailed":
        body = _detailed_body(message, trace_id, problems or [])
    else:
        body = _error_response(message, trace_id, problems or [])
    headers = {TRACE_ID_HEADER: trace_id}
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _detailed_body(message: str, trace_id: str, problems: list[Problem]) -> dict[str, Any]:
    return {
        "message": message,
        "errors": [problem.to_wire() for problem in problems],
        "sp_trace_id": trace_id,
    }


def _error_response(code: str, trace_id: str, problems: list[Problem]) -> dict[str, Any]:
    """The Ads API's ErrorResponse: messages and error codes, one of each per problem."""
    if not problems:
        return {
            "sp_trace_id": trace_id,
            "messages": [code.replace("_", " ").lower()],
            "error_codes": [code],
        }
    return {
        "sp_trace_id": trace_id,
        "messages": [f"{_where(problem)}: {problem.message}" for problem in problems],
        "error_codes": [problem.code for problem in problems],
    }


def _where(problem: Problem) -> str:
    if problem.index is None:
        return problem.field
    event = f"events[{problem.index}]"
    return f"{event}.{problem.field}" if problem.field else event
