"""The admin API under `/_sandbox/`: what was accepted, reset, and behaviour changes at run time.

GET    /_sandbox/health             {"status": "ok"}
GET    /_sandbox/stats              counts of requests by status and of accepted events (and
                                    the Ads API's: requests, tokens, events counted and lost)
GET    /_sandbox/events             {"event_ids": {"<event_id>": <times it arrived>}}
GET    /_sandbox/events/{event_id}  {"event_id", "count", "body"} (404 if never accepted)
POST   /_sandbox/reset              forget every count and body, diagnostics counts, issued
                                    Ads API tokens and throttled answers still to come
GET    /_sandbox/config             the settings (tokens masked)
PUT    /_sandbox/config             a partial update, e.g. {"faults": {"share_500": 0.3}}
POST   /_sandbox/outage             {"seconds": 5, "mode": "refuse" | "503"}
DELETE /_sandbox/outage             end the outage now
POST   /_sandbox/ads/throttle       {"requests": 3, "retry_after_s": 2}: the next 3 Ads API
                                    requests (token, dataset, diagnostics) answer 429
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson
from aiohttp import web
from pydantic import ValidationError

from capi_devtools.sandbox.runtime import RUNTIME, SandboxRuntime
from capi_devtools.sandbox.settings import SandboxSettings, apply_changes


def admin_routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.get(f"{prefix}/health", _health),
        web.get(f"{prefix}/stats", _stats),
        web.get(f"{prefix}/events", _accepted_ids),
        web.get(f"{prefix}/events/{{event_id}}", _accepted_event),
        web.post(f"{prefix}/reset", _reset),
        web.get(f"{prefix}/config", _get_config),
        web.put(f"{prefix}/config", _put_config),
        web.post(f"{prefix}/outage", _start_outage),
        web.delete(f"{prefix}/outage", _end_outage),
        web.post(f"{prefix}/ads/throttle", _throttle_ads_api),
    ]


def _runtime(request: web.Request) -> SandboxRuntime:
    return request.app[RUNTIME]


async def _health(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _stats(request: web.Request) -> web.Response:
    return _json(_runtime(request).state.stats().to_wire())


async def _accepted_ids(request: web.Request) -> web.Response:
    return _json({"event_ids": _runtime(request).state.accepted_ids()})


async def _accepted_event(request: web.Request) -> web.Response:
    state = _runtime(request).state
    event_id = request.match_info["event_id"]
    count = state.count(event_id)
    if count == 0:
        return _json({"message": "NOT_FOUND"}, status=404)
    return _json({"event_id": event_id, "count": count, "body": state.body(event_id)})


async def _reset(request: web.Request) -> web.Response:
    _runtime(request).state.reset()
    return _json({"reset": True})


async def _get_config(request: web.Request) -> web.Response:
    return _json(_describe(_runtime(request).settings))


async def _put_config(request: web.Request) -> web.Response:
    runtime = _runtime(request)
    changes = await _body(request)
    if not isinstance(changes, dict):
        return _bad("the body must be a JSON object of settings to change")
    try:
        updated = apply_changes(runtime.settings, changes)
    except ValidationError as exc:
        return _bad(_describe_error(exc))
    except ValueError as exc:
        return _bad(str(exc))
    runtime.configure(updated, reseed="faults" in changes)
    return _json(_describe(updated))


async def _start_outage(request: web.Request) -> web.Response:
    body = await _body(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    mode = body.get("mode", "refuse") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        return _bad("seconds must be a positive number")
    if mode not in ("refuse", "503"):
        return _bad("mode must be 'refuse' or '503'")
    await _runtime(request).start_outage(float(seconds), mode)
    return _json({"mode": mode, "seconds": seconds})


async def _end_outage(request: web.Request) -> web.Response:
    await _runtime(request).end_outage()
    return _json({"outage": None})


async def _throttle_ads_api(request: web.Request) -> web.Response:
    body = await _body(request)
    requests = body.get("requests") if isinstance(body, dict) else None
    retry_after_s = body.get("retry_after_s", 1) if isinstance(body, dict) else None
    if not (_is_count(requests) and _is_count(retry_after_s)):
        return _bad("requests and retry_after_s must be whole numbers of at least 0")
    _runtime(request).state.ads.throttle(requests, retry_after_s)
    return _json({"requests": requests, "retry_after_s": retry_after_s})


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


async def _body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None


def _describe(settings: SandboxSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json")  # SecretStr dumps as asterisks


def _describe_error(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


def _bad(message: str) -> web.Response:
    return _json({"message": "BAD_REQUEST", "detail": message}, status=400)


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
