"""The token stays in the Authorization header; a failing callback is loud, not silent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pytest
from pydantic import SecretStr

from connector.errors import ConfigError
from connector.sink import SendOutcome, SendStatus, SinkError, SpotifySink
from connector.sink.token import TokenSource
from tests.unit.sink.conftest import TOKEN, Harness, Reply, Request, ScriptedSpotify, items


def echo_authorization(request: Request) -> Reply:
    """A hostile server that quotes the request headers back in its error."""
    return Reply(400, body=f"bad request; you sent {request.headers['Authorization']}")


async def test_token_appears_in_no_outcome_log_or_exception(
    server: ScriptedSpotify, harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.then(Reply(401), Reply(500, body="oops"), Reply(503))
    server.respond = echo_authorization
    h = harness(batch_size=2, max_attempts=3, auth_retry_interval_s=0.5)
    texts: list[str] = []
    async with h.sink:
        h.add(items("secret", 2))
        while h.sink.in_flight_events:
            await h.sink.flush(timeout=5)
        texts.append(repr(h.sink))
        texts.append(repr(h.spotify))

    refused = harness(url="http://127.0.0.1:9/capi-direct/events/", max_attempts=1)
    async with refused.sink:
        refused.add(items("secret-refused", 1))
        assert await refused.sink.flush(timeout=5)

    outcomes = [*h.outcomes, *refused.outcomes]
    assert {o.status for o in outcomes} == {SendStatus.REJECTED, SendStatus.RETRY_EXHAUSTED}
    assert any("you sent Bearer **********" in (o.error_message or "") for o in outcomes)
    texts.extend(repr(o) for o in outcomes)
    texts.extend(record.getMessage() for record in caplog.records)
    texts.append(caplog.text)
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent
    assert [text for text in texts if TOKEN in text] == []


async def test_callback_failure_is_logged_and_raised_at_flush_and_exit(
    server: ScriptedSpotify, harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = harness(batch_size=2)
    calls: list[int] = []

    def broken(outcomes: Sequence[SendOutcome]) -> None:
        calls.append(len(outcomes))
        raise ValueError("results producer is gone")

    sink = SpotifySink(h.spotify, h.settings, broken, sleep=h.fake_sleep)
    await sink.__aenter__()
    sink.add(items("cb", 1)[0])
    with pytest.raises(SinkError, match="ValueError") as at_flush:
        await sink.flush(timeout=5)
    assert isinstance(at_flush.value.__cause__, ValueError)
    assert sink.in_flight_events == 0  # the sink settled it; the caller did not
    with pytest.raises(SinkError, match="ValueError") as at_exit:
        await sink.__aexit__(None, None, None)
    assert isinstance(at_exit.value.__cause__, ValueError)
    assert calls == [1]
    assert len(server.requests) == 1
    assert "on_outcomes callback failed for 1 outcomes" in caplog.text


def echo_authorization_upper_cased(request: Request) -> Reply:
    """A hostile server that shouts the request headers back."""
    return Reply(400, body=f"BAD REQUEST; YOU SENT {request.headers['Authorization'].upper()}")


async def test_a_token_echoed_in_another_case_is_masked_too(
    server: ScriptedSpotify, harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    server.respond = echo_authorization_upper_cased
    h = harness(batch_size=1)
    async with h.sink:
        h.add(items("shout", 1))
        assert await h.sink.flush(timeout=5)
    [outcome] = h.outcomes
    assert outcome.error_message == "BAD REQUEST; YOU SENT BEARER **********"
    assert TOKEN.upper() not in caplog.text


@pytest.mark.parametrize("token", ["tok en", "tök-3f9a", "tok\u200bzero-width"])
def test_a_token_no_header_can_carry_is_a_setting_error_before_any_request(
    harness: Callable[..., Harness], token: str
) -> None:
    spotify = harness().spotify.model_copy(update={"token": SecretStr(token)})
    with pytest.raises(ConfigError) as refused:
        TokenSource(spotify)
    assert str(refused.value).startswith("spotify.token cannot be sent in an HTTP header")
    assert token not in str(refused.value)
    with pytest.raises(ConfigError):
        SpotifySink(spotify, harness().settings, lambda _outcomes: None)
