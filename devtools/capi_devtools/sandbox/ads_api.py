"""The slice of Spotify's Ads API v3 the connector's `reconcile` reads, and its OAuth token.

POST /api/token                                                  accounts service: refresh grant
GET  /ads/v3/businesses/{business_id}/datasets/{dataset_id}              Dataset
GET  /ads/v3/businesses/{business_id}/datasets/{dataset_id}/diagnostics  DiagnosticsResponse

Served by the events endpoint's app and port. Derived from what the sandbox accepted (see
diagnostics.py); the CAPI token does not open it, and its access tokens do not open the CAPI.
The events endpoint's faults and 503 outage do not touch it (its own fault: `throttle`); a
`refuse` outage closes the shared port, so it is down too. Errors are the spec's ErrorResponse,
`{"sp_trace_id", "messages", "error_codes": [{"code", "definition"}]}`, with the `sp-trace-id`
header; the token endpoint answers OAuth errors, `{"error", "error_description"}`.
Order of checks: throttle (429), token (401), malformed ids (400), business (403), dataset (404),
query (400).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from aiohttp import web
from multidict import MultiMapping

from capi_devtools.sandbox.ads_state import AdsState
from capi_devtools.sandbox.diagnostics import GRANULARITIES, Granularity, Tally
from capi_devtools.sandbox.runtime import RUNTIME, SandboxRuntime
from capi_devtools.sandbox.settings import canonical_uuid

TOKEN_PATH = "/api/token"  # noqa: S105 - a path, not a password
ADS_API_PREFIX = "/ads/v3"
DATASET_PATH = ADS_API_PREFIX + "/businesses/{business_id}/datasets/{dataset_id}"
DIAGNOSTICS_PATH = DATASET_PATH + "/diagnostics"
TRACE_ID_HEADER = "sp-trace-id"  # app.py's, which cannot be imported here (app imports us)
RECEIVING_WINDOW_MS = 3600 * 1000  # "currently sending": an event shown within the last hour
_INTEGRATION_NAMESPACE = uuid.UUID("6f1d9c3a-2b4e-4f8a-9c7d-5e3b1a2f4c6d")

_DEFINITIONS = {
    "UNAUTHORIZED": "The access token is missing, unknown or expired: get a new one.",
    "INVALID_REQUEST": "The request is malformed: see the messages.",
    "FORBIDDEN": "The token's user may not read this business.",
    "NOT_FOUND": "The business has no dataset with this id.",
    "TOO_MANY_REQUESTS": "Rate limited: retry after the seconds of the Retry-After header.",
}


def ads_routes() -> list[web.RouteDef]:
    return [
        web.post(TOKEN_PATH, post_token),
        web.get(DATASET_PATH, get_dataset),
        web.get(DIAGNOSTICS_PATH, get_diagnostics),
    ]


# --- POST /api/token ---------------------------------------------------------------------


async def post_token(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    ads, settings = runtime.state.ads, runtime.settings
    retry_after_s = ads.take_throttle()
    if retry_after_s is not None:
        return _oauth_error(ads, 429, "too_many_requests", "slow down", retry_after_s)
    form = await request.post()
    client = _client(request.headers.get("Authorization"), form)
    secret = settings.ads_client_secret.get_secret_value()
    if client is None or not (
        _same(client[0], settings.ads_client_id) and _same(client[1], secret)
    ):
        return _oauth_error(ads, 401, "invalid_client", "Invalid client")
    grant_type = form.get("grant_type")
    if grant_type is None:
        return _oauth_error(ads, 400, "invalid_request", "grant_type must be supplied")
    if grant_type != "refresh_token":
        return _oauth_error(ads, 400, "unsupported_grant_type", "only refresh_token is served")
    refresh_token = form.get("refresh_token")
    expected = settings.ads_refresh_token.get_secret_value()
    if not isinstance(refresh_token, str) or not _same(refresh_token, expected):
        return _oauth_error(ads, 400, "invalid_grant", "Invalid refresh token")
    ttl_s = settings.ads_token_ttl_s
    body = {"access_token": ads.issue_token(ttl_s), "token_type": "Bearer", "expires_in": ttl_s}
    ads.record_response(200)
    return _json(body, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _client(authorization: str | None, form: Mapping[str, Any]) -> tuple[str, str] | None:
    """(client id, secret) from HTTP Basic, else from the form fields."""
    if authorization is None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if isinstance(client_id, str) and isinstance(secret, str):
            return client_id, secret
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _oauth_error(
    ads: AdsState, status: int, error: str, description: str, retry_after_s: int | None = None
) -> web.Response:
    ads.record_response(status)
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    return _json({"error": error, "error_description": description}, status, headers)


# --- GET /ads/v3/businesses/{business_id}/datasets/{dataset_id}[/diagnostics] -------------


@dataclass(frozen=True, slots=True)
class _Dataset:
    runtime: SandboxRuntime
    dataset_id: str
    connection_id: str

    @property
    def linked(self) -> bool:
        return self.dataset_id not in self.runtime.settings.ads_unlinked_datasets

    @property
    def delay_s(self) -> float:
        return self.runtime.settings.ads_diagnostics_delay_s


async def get_diagnostics(request: web.Request) -> web.Response:
    dataset = _find_dataset(request)
    if isinstance(dataset, web.Response):
        return dataset
    ads = dataset.runtime.state.ads
    granularities = _granularities(request.query)
    if granularities is None:
        message = "granularities is required: HOURLY or DAILY, repeated for both"
        return _ads_error(ads, 400, "INVALID_REQUEST", message)
    wanted = _listed(request.query.getall("datasource_ids", []))
    datasources = []
    if dataset.linked and (not wanted or dataset.connection_id in wanted):
        for granularity in granularities:
            buckets = ads.timeseries(dataset.connection_id, granularity, dataset.delay_s)
            datasources.append(
                {
                    "datasource_type": "CAPI",
                    "datasource_id": dataset.connection_id,
                    "granularity": granularity,
                    "timeseries": [bucket.to_wire() for bucket in buckets],
                }
            )
    return _ads_ok(ads, {"dataset_id": dataset.dataset_id, "datasources": datasources})


async def get_dataset(request: web.Request) -> web.Response:
    dataset = _find_dataset(request)
    if isinstance(dataset, web.Response):
        return dataset
    ads = dataset.runtime.state.ads
    shown, now = ads.shown(dataset.connection_id, dataset.delay_s)
    since_ms = now * 1000 - RECEIVING_WINDOW_MS
    body: dict[str, Any] = {
        "id": dataset.dataset_id,
        "name": f"Sandbox dataset {dataset.dataset_id[:8]}",
        "pixel": None,
        "capi_integration": _capi_integration(dataset, shown),
        "ad_set_count": 0,
        "is_archived": False,
        # The integration's own traffic, linked or not: unlinked events are received, not routed.
        "is_receiving_events": any(tally.last_ms >= since_ms for tally in shown.values()),
        "shared_ad_accounts": [],
        "is_receiving_lead_events": "LEAD" in shown and shown["LEAD"].last_ms >= since_ms,
    }
    return _ads_ok(ads, body)


def _capi_integration(dataset: _Dataset, shown: Mapping[str, Tally]) -> dict[str, Any]:
    connection_id = dataset.connection_id
    first = sorted((tally.first_ms, name) for name, tally in shown.items())
    return {
        "capi_connection_id": connection_id,
        "integration_id": str(uuid.uuid5(_INTEGRATION_NAMESPACE, connection_id)),
        "name": f"Sandbox CAPI {connection_id[:8]}",
        "dataset_id": dataset.dataset_id if dataset.linked else None,
        "events_received": [
            {"event_type": name, "first_event_time": _iso_utc(first_ms)} for first_ms, name in first
        ],
    }


def _find_dataset(request: web.Request) -> _Dataset | web.Response:
    runtime = request.app[RUNTIME]
    ads, settings = runtime.state.ads, runtime.settings
    retry_after_s = ads.take_throttle()
    if retry_after_s is not None:
        return _ads_error(ads, 429, "TOO_MANY_REQUESTS", "too many requests", retry_after_s)
    if not _bearer_valid(request.headers.get("Authorization"), ads):
        return _ads_error(ads, 401, "UNAUTHORIZED", "missing, unknown or expired access token")
    try:
        business_id = canonical_uuid(request.match_info["business_id"])
        dataset_id = canonical_uuid(request.match_info["dataset_id"])
    except ValueError:
        return _ads_error(ads, 400, "INVALID_REQUEST", "business_id and dataset_id are UUIDs")
    if business_id != settings.ads_business_id:
        return _ads_error(ads, 403, "FORBIDDEN", "no access to this business")
    connection_id = settings.ads_datasets.get(dataset_id)
    if connection_id is None:
        return _ads_error(ads, 404, "NOT_FOUND", "Resource not found")
    return _Dataset(runtime, dataset_id, connection_id)


def _bearer_valid(authorization: str | None, ads: AdsState) -> bool:
    if authorization is None:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and ads.token_valid(token.strip())


def _granularities(query: MultiMapping[str]) -> list[Granularity] | None:
    """The requested ones in order, once each: repeated keys, or a comma-separated value."""
    values = _listed(query.getall("granularities", []))
    if not values or any(value not in GRANULARITIES for value in values):
        return None
    return cast(list[Granularity], list(dict.fromkeys(values)))


def _listed(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _iso_utc(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ads_ok(ads: AdsState, body: dict[str, Any]) -> web.Response:
    ads.record_response(200)
    return _json(body, 200, {TRACE_ID_HEADER: str(uuid.uuid4())})


def _ads_error(
    ads: AdsState, status: int, code: str, message: str, retry_after_s: int | None = None
) -> web.Response:
    ads.record_response(status)
    trace_id = str(uuid.uuid4())
    headers = {TRACE_ID_HEADER: trace_id}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    body = {
        "sp_trace_id": trace_id,
        "messages": [message],
        "error_codes": [{"code": code, "definition": _DEFINITIONS[code]}],
    }
    return _json(body, status, headers)


def _json(body: dict[str, Any], status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )
