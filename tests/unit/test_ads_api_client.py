"""The Ads API reader against the sandbox over real HTTP: OAuth refresh, retries after 429, final
refusals with Spotify's words and never a secret, and `reconcile` without its settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from pydantic import SecretStr

from capi_devtools.sandbox import (
    DEFAULT_ADS_CLIENT_ID,
    DEFAULT_ADS_CLIENT_SECRET,
    DEFAULT_ADS_REFRESH_TOKEN,
    DEFAULT_BUSINESS_ID,
    DEFAULT_DATASET_ID,
    DEFAULT_TOKEN,
    DIAGNOSTIC_NAMES,
    SandboxThread,
)
from connector.cli import main
from connector.config import AdsApiSettings
from connector.reconcile.ads_api import AdsApi, AdsApiRefused, AdsApiUnavailable
from connector.reconcile.counts import CAPI_NAME_OF


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sandbox: SandboxThread) -> None:
    sandbox.state.reset()


def ads(sandbox: SandboxThread, **changes: Any) -> AdsApiSettings:
    values: dict[str, Any] = {
        "url": sandbox.ads_url,
        "token_url": sandbox.token_url,
        "client_id": DEFAULT_ADS_CLIENT_ID,
        "client_secret": SecretStr(DEFAULT_ADS_CLIENT_SECRET),
        "refresh_token": SecretStr(DEFAULT_ADS_REFRESH_TOKEN),
        "business_id": DEFAULT_BUSINESS_ID,
        "dataset_id": DEFAULT_DATASET_ID,
        "max_attempts": 4,
        **changes,
    }
    return AdsApiSettings(**values)


async def _no_wait(_seconds: float) -> None:
    return None


def call(settings: AdsApiSettings, what: str = "diagnostics") -> tuple[dict[str, Any], list[float]]:
    """One call through a fresh client; the waits it asked for."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            api = AdsApi(settings, session, sleep=sleep)
            if what == "dataset":
                return await api.dataset(DEFAULT_BUSINESS_ID, DEFAULT_DATASET_ID)
            return await api.diagnostics(DEFAULT_BUSINESS_ID, DEFAULT_DATASET_ID, "HOURLY")

    return asyncio.run(go()), waits


def test_the_name_tables_of_both_sides_are_each_other_s_reverse() -> None:
    assert {capi: diag for diag, capi in CAPI_NAME_OF.items()} == dict(DIAGNOSTIC_NAMES)


def test_a_refresh_token_buys_an_access_token_that_reads_diagnostics(
    sandbox: SandboxThread,
) -> None:
    body, waits = call(ads(sandbox))
    assert body["dataset_id"] == DEFAULT_DATASET_ID
    assert [s["datasource_type"] for s in body["datasources"]] == ["CAPI"]
    assert body["datasources"][0]["granularity"] == "HOURLY"
    assert waits == []
    assert sandbox.state.stats().ads_tokens_issued == 1
    dataset, _ = call(ads(sandbox), "dataset")
    assert dataset["capi_integration"]["dataset_id"] == DEFAULT_DATASET_ID


def test_429_is_waited_out_as_retry_after_says_then_answered(sandbox: SandboxThread) -> None:
    sandbox.throttle_ads_api(2, retry_after_s=7)  # the token request, then the first GET
    body, waits = call(ads(sandbox))
    assert body["dataset_id"] == DEFAULT_DATASET_ID
    assert waits == [7.0, 7.0]
    assert sandbox.state.stats().ads_requests_by_status.get("429") == 2


def test_a_throttle_longer_than_the_attempts_is_unavailable(sandbox: SandboxThread) -> None:
    sandbox.throttle_ads_api(10, retry_after_s=1)
    with pytest.raises(AdsApiUnavailable) as caught:
        call(ads(sandbox))
    assert caught.value.exit_code == 3
    assert "4 attempts" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"refresh_token": SecretStr("revoked-refresh-token")}, "400 invalid_grant"),
        ({"client_secret": SecretStr("wrong-client-secret")}, "401 invalid_client"),
        ({"client_secret": SecretStr(DEFAULT_TOKEN)}, "401 invalid_client"),  # the CAPI token
    ],
)
def test_refused_credentials_are_a_setting_to_fix_and_never_quoted(
    sandbox: SandboxThread, changes: dict[str, Any], said: str
) -> None:
    settings = ads(sandbox, **changes)
    with pytest.raises(AdsApiRefused) as caught:
        call(settings)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert f"refused the refresh token ({said})" in message
    for secret in (
        "revoked-refresh-token",
        "wrong-client-secret",
        DEFAULT_TOKEN,
        DEFAULT_ADS_CLIENT_SECRET,
        DEFAULT_ADS_REFRESH_TOKEN,
    ):
        assert secret not in message


def test_an_unknown_dataset_is_refused_with_spotify_s_words_and_trace_id(
    sandbox: SandboxThread,
) -> None:
    unknown = "11111111-2222-4333-8444-555555555555"

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            await AdsApi(ads(sandbox), session, sleep=_no_wait).diagnostics(
                DEFAULT_BUSINESS_ID, unknown, "HOURLY"
            )

    with pytest.raises(AdsApiRefused) as caught:
        asyncio.run(go())
    message = str(caught.value)
    assert message.startswith(
        f"the Ads API refused GET /businesses/{DEFAULT_BUSINESS_ID}/datasets/"
    )
    assert " 404 " in message
    assert "(sp_trace_id " in message


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("_restore_logging")
def test_reconcile_without_the_ads_settings_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SPOTIFY_ADS_CLIENT_ID", "SPOTIFY_ADS_CLIENT_SECRET", "SPOTIFY_ADS_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "settings.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": "127.0.0.1:1"},  # never reached
                "spotify": {"token": "t", "connection_id": "c"},
                "ads_api": {"client_id": "an-id", "business_id": DEFAULT_BUSINESS_ID},
            }
        ),
        encoding="utf-8",
    )
    code = main(["reconcile", "--config", str(config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "spotify-capi-connector reconcile: reconcile needs ads_api.client_secret "
        "(SPOTIFY_ADS_CLIENT_SECRET or its _FILE), ads_api.refresh_token "
        "(SPOTIFY_ADS_REFRESH_TOKEN or its _FILE), ads_api.dataset_id"
    ]
