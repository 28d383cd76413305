"""A token rotated in its file mid-run, against the sandbox accepting only the new token: the
requests in flight with the old one are sent again with the new one, nothing is held, refused
or lost, and the old token is masked as well as the new."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import FaultSettings, SandboxServer, SandboxSettings
from connector.config import SinkSettings, SpotifySettings
from connector.sink import SendOutcome, SendStatus, SinkItem, SpotifySink
from tests.unit.sink.conftest import CONNECTION_ID, RecordingObserver

OLD, NEW = "tok-old-3f9a1c-SECRET", "tok-new-7e2b44-SECRET"
EMAIL_HASH = "a" * 64


def items(prefix: str, count: int) -> list[SinkItem]:
    """Events the sandbox takes."""
    made = []
    for n in range(count):
        event_id = f"{prefix}-{n:04d}"
        wire = {
            "event_id": event_id,
            "event_name": "VIEW",
            "event_time": "2026-01-23T12:34:56.000Z",
            "user_data": {"hashed_emails": [EMAIL_HASH]},
        }
        made.append(SinkItem(ref=n, event_id=event_id, payload=orjson.dumps(wire)))
    return made


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    settings = SandboxSettings(
        tokens=(SecretStr(OLD),),
        connection_ids=(CONNECTION_ID,),
        faults=FaultSettings(latency_ms=200),  # long enough to swap the file under a request
    )
    async with SandboxServer(settings) as server:
        yield server


def rotate(file: Path, sandbox: SandboxServer) -> None:
    """The new token in the file, and Spotify accepting only it from now on."""
    staged = file.with_name("staged")
    staged.write_text(NEW + "\n", encoding="utf-8")
    os.replace(staged, file)
    sandbox.configure(tokens=[NEW])


async def test_a_rotated_token_is_taken_and_the_requests_sent_before_go_again(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    file = tmp_path / "spotify-capi-token"
    file.write_text(OLD + "\n", encoding="utf-8")
    spotify = SpotifySettings(
        url=sandbox.url, token=SecretStr(OLD), token_file=file, connection_id=CONNECTION_ID
    )
    outcomes: list[SendOutcome] = []
    observer = RecordingObserver()
    sink = SpotifySink(
        spotify, SinkSettings(batch_size=10, linger_ms=0), outcomes.extend, observer=observer
    )
    async with sink:
        for item in items("before", 10):
            sink.add(item)
        assert await sink.flush(timeout=10)
        for item in items("during", 30):  # three requests, in flight with the old token
            sink.add(item)
        await asyncio.sleep(0.05)
        rotate(file, sandbox)
        assert await sink.flush(timeout=10)
        for item in items("after", 10):
            sink.add(item)
        assert await sink.flush(timeout=10)

    assert {o.status for o in outcomes} == {SendStatus.DELIVERED}
    assert len(outcomes) == 50
    assert len(sandbox.state.accepted_ids()) == 50
    statuses = sandbox.state.stats().requests_by_status
    assert statuses["401"] == 3  # the three in flight, each sent once more
    assert statuses["200"] == 5
    assert observer.auth_states == []  # never held, never not ready
    assert not sink.auth_failing
    assert sink._redact(f"echo {OLD} and {NEW}") == "echo ********** and **********"
