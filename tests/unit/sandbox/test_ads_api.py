"""The Ads API slice over real HTTP: the OAuth token, auth, errors, throttling, the dataset."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from capi_devtools.sandbox import (
    DEFAULT_ADS_CLIENT_ID,
    DEFAULT_ADS_REFRESH_TOKEN,
    DEFAULT_BUSINESS_ID,
    DEFAULT_CONNECTION_ID,
    DEFAULT_DATASET_ID,
    DEFAULT_TOKEN,
    SandboxAdmin,
    SandboxServer,
    SandboxSettings,
    SandboxThread,
)
from tests.unit.sandbox.ads_support import (
    BASIC,
    AdsClient,
    FakeClock,
    basic,
    epoch_s,
    event,
)
from tests.unit.sandbox.conftest import Answer, Post, envelope

T0 = "2026-01-23T12:34:56.250Z"
UNKNOWN_ID = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(epoch_s(T0))


@pytest.fixture
def settings() -> SandboxSettings:
    return SandboxSettings(ads_diagnostics_delay_s=0)


@pytest.fixture
async def sandbox(settings: SandboxSettings, clock: FakeClock) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(settings, ads_clock=clock) as server:
        yield server


@pytest.fixture
async def ads(sandbox: SandboxServer, session: aiohttp.ClientSession) -> AdsClient:
    return AdsClient(session, sandbox)


def _assert_error_response(answer: Answer, status: int, code: str) -> None:
    """The spec's ErrorResponse, its trace id also in the sp-trace-id header."""
    assert answer.status == status
    assert set(answer.body) == {"sp_trace_id", "messages", "error_codes"}
    assert answer.body["sp_trace_id"] == answer.headers["sp-trace-id"]
    uuid.UUID(answer.body["sp_trace_id"])
    assert answer.body["messages"]
    assert all(isinstance(message, str) for message in answer.body["messages"])
    [error_code] = answer.body["error_codes"]
    assert set(error_code) == {"code", "definition"}
    assert error_code["code"] == code


# --- POST /api/token -------------------------------------------------------------------------


async def test_a_refresh_grant_with_basic_auth_issues_fresh_bearer_tokens(
    ads: AdsClient, sandbox: SandboxServer
) -> None:
    first, second = await ads.token(), await ads.token()

    assert first.status == 200
    assert set(first.body) == {"access_token", "token_type", "expires_in"}
    assert (first.body["token_type"], first.body["expires_in"]) == ("Bearer", 3600)
    assert first.body["access_token"] != second.body["access_token"]
    assert first.headers["Cache-Control"] == "no-store"
    for answer in (first, second):
        assert (await ads.dataset(answer.body["access_token"])).status == 200
    assert sandbox.token_url.endswith("/api/token")
    assert sandbox.ads_url.endswith("/ads/v3")
    assert sandbox.ads_url.rsplit("/ads/", 1)[0] == sandbox.url.rsplit("/capi-direct/", 1)[0]


async def test_the_client_may_authenticate_in_the_form(ads: AdsClient) -> None:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": DEFAULT_ADS_REFRESH_TOKEN,
        "client_id": BASIC[0],
        "client_secret": BASIC[1],
    }
    answer = await ads.token(form, auth=None)
    assert answer.status == 200
    assert answer.body["token_type"] == "Bearer"


@pytest.mark.parametrize("refresh_token", ["wrong", None])
async def test_a_wrong_or_missing_refresh_token_is_invalid_grant(
    ads: AdsClient, refresh_token: str | None
) -> None:
    form = {"grant_type": "refresh_token"}
    if refresh_token is not None:
        form["refresh_token"] = refresh_token
    answer = await ads.token(form)
    assert answer.status == 400
    assert answer.body["error"] == "invalid_grant"
    assert isinstance(answer.body["error_description"], str)


@pytest.mark.parametrize(
    "auth", [(DEFAULT_ADS_CLIENT_ID, "wrong"), ("someone-else", BASIC[1]), None]
)
async def test_a_wrong_or_missing_client_is_invalid_client(
    ads: AdsClient, auth: tuple[str, str] | None
) -> None:
    answer = await ads.token(auth=auth)
    assert answer.status == 401
    assert answer.body["error"] == "invalid_client"
    assert "error_description" in answer.body


async def test_other_grants_are_unsupported(ads: AdsClient) -> None:
    answer = await ads.token({"grant_type": "client_credentials"})
    assert (answer.status, answer.body["error"]) == (400, "unsupported_grant_type")
    answer = await ads.token({"refresh_token": DEFAULT_ADS_REFRESH_TOKEN})
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


async def test_access_tokens_expire_after_their_ttl(
    ads: AdsClient, sandbox: SandboxServer, clock: FakeClock
) -> None:
    sandbox.configure(ads_token_ttl_s=60)
    answer = await ads.token()
    assert answer.body["expires_in"] == 60
    token = answer.body["access_token"]

    clock.advance(59.999)
    assert (await ads.dataset(token)).status == 200
    clock.advance(0.001)
    _assert_error_response(await ads.dataset(token), 401, "UNAUTHORIZED")


async def test_credentials_change_at_run_time_and_stay_masked(
    ads: AdsClient, sandbox: SandboxServer
) -> None:
    sandbox.configure(ads_client_secret="rotated-secret", ads_refresh_token="rotated-refresh")
    assert (await ads.token()).status == 401
    rotated = {"grant_type": "refresh_token", "refresh_token": "rotated-refresh"}
    assert (await ads.token(rotated, auth=(BASIC[0], "rotated-secret"))).status == 200
    described = json.dumps(sandbox.runtime.settings.model_dump(mode="json"))
    assert "rotated" not in described


# --- auth and errors of the Ads API ---------------------------------------------------------


async def test_the_capi_token_does_not_open_the_ads_api_nor_the_reverse(
    ads: AdsClient, post: Post
) -> None:
    _assert_error_response(await ads.dataset(DEFAULT_TOKEN), 401, "UNAUTHORIZED")
    _assert_error_response(await ads.diagnostics(DEFAULT_TOKEN, "HOURLY"), 401, "UNAUTHORIZED")
    access_token = await ads.access_token()
    assert (await post(envelope([event("e")]), token=access_token)).status == 401


@pytest.mark.parametrize("token", [None, "unknown-token"])
async def test_a_missing_or_unknown_token_is_401(ads: AdsClient, token: str | None) -> None:
    answer = await ads.diagnostics(token, "HOURLY")
    _assert_error_response(answer, 401, "UNAUTHORIZED")
    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_an_unknown_business_is_403_and_an_unknown_dataset_404(ads: AdsClient) -> None:
    token = await ads.access_token()
    _assert_error_response(await ads.dataset(token, business_id=UNKNOWN_ID), 403, "FORBIDDEN")
    answer = await ads.diagnostics(token, "HOURLY", business_id=UNKNOWN_ID)
    _assert_error_response(answer, 403, "FORBIDDEN")
    _assert_error_response(await ads.dataset(token, UNKNOWN_ID), 404, "NOT_FOUND")
    answer = await ads.diagnostics(token, "HOURLY", dataset_id=UNKNOWN_ID)
    _assert_error_response(answer, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("granularities", "dataset_id"),
    [
        ((), DEFAULT_DATASET_ID),
        (("WEEKLY",), DEFAULT_DATASET_ID),
        (("HOURLY", "hourly"), DEFAULT_DATASET_ID),
        (("",), DEFAULT_DATASET_ID),
        (("HOURLY",), "not-a-uuid"),
    ],
)
async def test_a_bad_request_is_400(
    ads: AdsClient, granularities: tuple[str, ...], dataset_id: str
) -> None:
    token = await ads.access_token()
    answer = await ads.diagnostics(token, *granularities, dataset_id=dataset_id)
    _assert_error_response(answer, 400, "INVALID_REQUEST")


async def test_ids_are_read_in_any_uuid_spelling(ads: AdsClient) -> None:
    token = await ads.access_token()
    answer = await ads.dataset(token, DEFAULT_DATASET_ID.upper(), DEFAULT_BUSINESS_ID.upper())
    assert (answer.status, answer.body["id"]) == (200, DEFAULT_DATASET_ID)


# --- throttling ---------------------------------------------------------------------------------


async def test_throttled_requests_answer_429_with_retry_after_then_succeed(
    ads: AdsClient, sandbox: SandboxServer
) -> None:
    token = await ads.access_token()
    sandbox.throttle_ads_api(3, retry_after_s=7)

    refused_token = await ads.token()
    refused_diagnostics = await ads.diagnostics(token, "HOURLY")
    refused_dataset = await ads.dataset("not even a token")  # throttled before auth

    assert (refused_token.status, refused_token.headers["Retry-After"]) == (429, "7")
    assert refused_token.body["error"] == "too_many_requests"
    for answer in (refused_diagnostics, refused_dataset):
        _assert_error_response(answer, 429, "TOO_MANY_REQUESTS")
        assert answer.headers["Retry-After"] == "7"
    assert (await ads.diagnostics(token, "HOURLY")).status == 200
    assert (await ads.token()).status == 200
    stats = sandbox.state.stats()
    assert stats.ads_requests_by_status == {"200": 3, "429": 3}
    assert stats.requests_total == 0  # the events endpoint's counts hold only its own requests


# --- GET .../datasets/{dataset_id} ------------------------------------------------------------


async def test_the_dataset_by_value(post: Post, ads: AdsClient, clock: FakeClock) -> None:
    answer = await post(envelope([event("a", "ADD_TO_CART"), event("b", "SIGN_UP")]))
    assert answer.status == 200
    clock.set("2026-01-23T13:00:00.000Z")
    assert (await post(envelope([event("c", "ADD_TO_CART"), event("d")]))).status == 200
    token = await ads.access_token()

    dataset = await ads.dataset(token)

    assert dataset.status == 200
    assert dataset.headers["sp-trace-id"]
    integration = dataset.body["capi_integration"]
    assert dataset.body == {
        "id": DEFAULT_DATASET_ID,
        "name": dataset.body["name"],
        "pixel": None,
        "capi_integration": {
            "capi_connection_id": DEFAULT_CONNECTION_ID,
            "integration_id": integration["integration_id"],
            "name": integration["name"],
            "dataset_id": DEFAULT_DATASET_ID,
            "events_received": [
                {"event_type": "ADDTOCART", "first_event_time": T0},
                {"event_type": "SIGNUP", "first_event_time": T0},
                {"event_type": "VIEW", "first_event_time": "2026-01-23T13:00:00.000Z"},
            ],
        },
        "ad_set_count": 0,
        "is_archived": False,
        "is_receiving_events": True,
        "shared_ad_accounts": [],
        "is_receiving_lead_events": False,
    }
    assert isinstance(dataset.body["name"], str)
    assert isinstance(integration["name"], str)
    uuid.UUID(integration["integration_id"])
    again = await ads.dataset(token)
    assert again.body["capi_integration"]["integration_id"] == integration["integration_id"]


async def test_receiving_flags_look_at_the_last_hour(
    post: Post, ads: AdsClient, clock: FakeClock
) -> None:
    assert (await post(envelope([event("lead", "LEAD")]))).status == 200

    async def flags() -> tuple[bool, bool]:
        body = (await ads.dataset(await ads.access_token())).body
        return body["is_receiving_events"], body["is_receiving_lead_events"]

    assert await flags() == (True, True)
    clock.advance(3600)
    assert await flags() == (True, True)
    clock.advance(0.001)
    assert await flags() == (False, False)


async def test_an_unlinked_dataset_has_no_capi_datasource_but_events_are_accepted(
    post: Post, ads: AdsClient, sandbox: SandboxServer
) -> None:
    sandbox.configure(ads_unlinked_datasets=[DEFAULT_DATASET_ID])
    assert (await post(envelope([event("a")]))).status == 200
    token = await ads.access_token()

    diagnostics = await ads.diagnostics(token, "HOURLY", "DAILY")
    dataset = await ads.dataset(token)

    assert diagnostics.body == {"dataset_id": DEFAULT_DATASET_ID, "datasources": []}
    assert dataset.body["capi_integration"]["dataset_id"] is None
    assert dataset.body["capi_integration"]["capi_connection_id"] == DEFAULT_CONNECTION_ID
    sandbox.configure(ads_unlinked_datasets=[])  # linked again: what it counted shows
    relinked = await ads.diagnostics(token, "HOURLY")
    assert relinked.body["datasources"][0]["timeseries"][0]["total"] == 1


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"ads_diagnostics_loss": {"ADDTOCART": 0.1}}, "not CAPI event names"),
        ({"ads_diagnostics_loss": {"VIEW": 1.5}}, "between 0 and 1"),
        ({"ads_unlinked_datasets": [UNKNOWN_ID]}, "not in ads_datasets"),
        ({"ads_datasets": {"not-a-uuid": DEFAULT_CONNECTION_ID}}, "not a UUID"),
        ({"ads_business_id": "acme"}, "not a UUID"),
        (
            {"ads_datasets": {DEFAULT_DATASET_ID: "c", UNKNOWN_ID: "c"}},
            "feeds one dataset at most",
        ),
    ],
)
def test_invalid_ads_settings_are_refused(changes: dict[str, Any], detail: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(detail)):
        SandboxSettings.model_validate(changes)


def test_dataset_ids_are_kept_in_canonical_form() -> None:
    settings = SandboxSettings(
        ads_datasets={DEFAULT_DATASET_ID.upper(): DEFAULT_CONNECTION_ID},
        ads_unlinked_datasets=(DEFAULT_DATASET_ID.upper(),),
    )
    assert settings.ads_datasets == {DEFAULT_DATASET_ID: DEFAULT_CONNECTION_ID}
    assert settings.ads_unlinked_datasets == (DEFAULT_DATASET_ID,)


# --- the admin API, from another thread ---------------------------------------------------


def _request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


def test_admin_throttles_reports_and_resets_the_ads_api() -> None:
    with SandboxThread(SandboxSettings(ads_diagnostics_delay_s=0)) as sandbox:
        admin = SandboxAdmin(sandbox.admin_url)
        form = urllib.parse.urlencode(
            {"grant_type": "refresh_token", "refresh_token": DEFAULT_ADS_REFRESH_TOKEN}
        ).encode()
        token_headers = {"Authorization": basic(*BASIC)}

        admin.throttle_ads_api(1, retry_after_s=2)
        assert _request(sandbox.token_url, form, token_headers) == 429
        request = urllib.request.Request(sandbox.token_url, form, token_headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            token = json.loads(response.read())["access_token"]
        dataset_url = f"{sandbox.ads_url}/businesses/{DEFAULT_BUSINESS_ID}/datasets/"
        dataset_url += DEFAULT_DATASET_ID
        bearer = {"Authorization": f"Bearer {token}"}
        assert _request(dataset_url, headers=bearer) == 200
        events = json.dumps(envelope([event("a"), event("a")])).encode()
        capi_headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        assert _request(sandbox.url, events, capi_headers) == 200

        stats = admin.stats()
        assert stats.ads_requests_by_status == {"429": 1, "200": 2}
        assert (stats.ads_tokens_issued, stats.ads_events_counted, stats.ads_events_lost) == (
            1,
            1,
            0,
        )
        assert stats.requests_by_status == {"200": 1}
        admin.configure(ads_diagnostics_loss={"VIEW": 0.5})
        assert admin.config()["ads_diagnostics_loss"] == {"VIEW": 0.5}
        assert "not-a-secret" not in json.dumps(admin.config())  # ads secrets are masked

        admin.reset()
        assert _request(dataset_url, headers=bearer) == 401  # issued tokens are forgotten
        stats = admin.stats()
        assert (stats.ads_tokens_issued, stats.ads_events_counted) == (0, 0)
        assert stats.ads_requests_by_status == {"401": 1}
