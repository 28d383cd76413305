"""The dry-run command: `spotify-capi-connector transform [FILE] [--config] [--now]`."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from connector.cli import main
from connector.transform.event_id import EVENT_ID_NAMESPACE

NOW = "2026-01-23T12:34:56Z"
PURCHASE_LINE = {
    "event": "Order Completed",
    "properties": {
        "$event_id": "order-1",
        "email": "Jane.Doe@Example.com",
        "amount": "10.5",
        "currency": "eur",
        "phone": "not a phone",
    },
    "timestamp": 1_769_171_000_000,
}
VIEW_LINE = {"event": "view", "properties": {"$device_id": "d-1"}}
UNKNOWN_LINE = {"event": "Clicked", "properties": {"$device_id": "d-1"}}


def _jsonl(*records: Any) -> str:
    return "".join(orjson.dumps(record).decode() + "\n" for record in records)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text("transform:\n  event_name_mapping:\n    Order Completed: PURCHASE\n")
    return path


def _outputs(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_file_in_one_line_out_per_event(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(_jsonl(PURCHASE_LINE, VIEW_LINE) + "\n" + _jsonl(UNKNOWN_LINE))
    code = main(["transform", str(events), "--config", str(config), "--now", NOW])
    captured = capsys.readouterr()
    assert code == 0
    assert _outputs(captured.out) == [
        {
            "event_id": "order-1",
            "event_name": "PURCHASE",
            "event_time": "2026-01-23T12:23:20.000Z",
            "opt_out_targeting": True,
            "user_data": {"hashed_emails": [hashlib.sha256(b"jane.doe@example.com").hexdigest()]},
            "event_details": {"amount": 10.5, "currency": "EUR"},
        },
        {
            "event_id": str(uuid.uuid5(EVENT_ID_NAMESPACE, "events.jsonl:0:1")),
            "event_name": "VIEW",
            "event_time": "2026-01-23T12:34:56.000Z",
            "opt_out_targeting": True,
            "user_data": {"device_id": "d-1"},
        },
        {
            "error": {
                "reason": "unknown_event_name",
                "field": "event_name",
                "message": "the event name is not a Spotify name or a known alias, is not "
                "mapped in transform.event_name_mapping, and spotify_event_name is not set",
            }
        },
    ]
    assert captured.err == "line 1: warning invalid_phone (phone)\n"
    assert "not a phone" not in captured.err


def test_stdin_uses_the_topic_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(_jsonl(VIEW_LINE, VIEW_LINE).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["transform", "--now", NOW]) == 0
    ids = [record["event_id"] for record in _outputs(capsys.readouterr().out)]
    assert ids == [
        str(uuid.uuid5(EVENT_ID_NAMESPACE, "stdin:0:0")),
        str(uuid.uuid5(EVENT_ID_NAMESPACE, "stdin:0:1")),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "line 2: not valid JSON"),
        (b"[1, 2]", "line 2: expected a JSON object"),
        (b'{"properties": {}}', "line 2: 'event' must be a string"),
        (b'{"event": "view", "properties": []}', "line 2: 'properties' must be an object"),
        (b'{"event": "view", "properties": {"a": {"b": 1}}}', "line 2: property #1 must be"),
        (b'{"event": "view", "properties": {"a": 1, "b": [1]}}', "line 2: property #2 must be"),
        (b'{"event": "view", "properties": {"email": [1]}}', "line 2: property 'email' must be"),
        (b'{"event": "view", "properties": {}, "timestamp": "x"}', "line 2: 'timestamp' must be"),
        (b'{"event": "view", "properties": {}, "timestamp": 1.5}', "line 2: 'timestamp' must be"),
        (b'{"event": "view", "user_id": 5}', "line 2: 'user_id' must be a string"),
        (b'{"event": "view", "properties": {"a": 9223372036854775808}}', "line 2: property #1"),
        (b'{"event": "\xff"}', "line 2: not valid JSON"),
    ],
)
def test_unreadable_line_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: bytes, message: str
) -> None:
    events = tmp_path / "bad.jsonl"
    events.write_bytes(_jsonl(VIEW_LINE).encode() + line + b"\n")
    assert main(["transform", str(events), "--now", NOW]) == 2
    captured = capsys.readouterr()
    assert f"spotify-capi-connector transform: {message}" in captured.err
    assert len(_outputs(captured.out)) == 1  # the good first line was written


def test_a_property_key_is_never_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Keys can be PII: a property outside the table is named by its position only."""
    secret = "secret.person@example.com"
    line = {"event": "view", "properties": {"$device_id": "d-1", secret: {"nested": 1}}}
    events = tmp_path / "pii.jsonl"
    events.write_text(_jsonl(line))
    assert main(["transform", str(events), "--now", NOW]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "spotify-capi-connector transform: line 1: property #2 must be null, a boolean, "
        "a number, a string or a list of strings\n"
    )
    assert secret not in captured.out + captured.err


def test_warnings_name_contract_fields_never_keys_or_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "secret.person@example.com"
    line = {
        "event": "view",
        "properties": {
            "$device_id": "d-1",
            secret: secret,
            "email": f"Secret Person <{secret}>; {secret} x",
            "content_category": secret,
        },
    }
    events = tmp_path / "pii.jsonl"
    events.write_text(_jsonl(line))
    assert main(["transform", str(events), "--now", NOW]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        "line 1: warning invalid_email (email)\n"
        "line 1: warning unknown_content_category (content_category)\n"
    )
    assert secret not in captured.err
    assert _outputs(captured.out)[0]["user_data"]["hashed_emails"] == [
        hashlib.sha256(secret.encode()).hexdigest()
    ]


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transform", str(tmp_path / "absent.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_now_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["transform", "--now", "yesterday"])
    assert exited.value.code == 2
    assert "argument --now" in capsys.readouterr().err


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("transform:\n  phone_format: dots\n")
    assert main(["transform", "--config", str(config), str(tmp_path / "x.jsonl")]) == 2
    assert "transform.phone_format" in capsys.readouterr().err


def test_as_a_subprocess(tmp_path: Path, config: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "connector", "transform", "--config", str(config), "--now", NOW],
        input=_jsonl(PURCHASE_LINE, UNKNOWN_LINE).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outputs = _outputs(result.stdout.decode())
    assert [record.get("event_name") for record in outputs] == ["PURCHASE", None]
    assert outputs[1]["error"]["reason"] == "unknown_event_name"
    assert result.stderr.decode() == "line 1: warning invalid_phone (phone)\n"


def test_a_dropped_event_is_one_skipped_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text("transform:\n  consent:\n    property: marketing_consent\n")
    events = tmp_path / "events.jsonl"
    denied = {"event": "view", "properties": {"$device_id": "d-1", "marketing_consent": False}}
    granted = {"event": "view", "properties": {"$device_id": "d-1", "marketing_consent": "yes"}}
    events.write_text(_jsonl(denied, granted))
    assert main(["transform", str(events), "--config", str(config), "--now", NOW]) == 0
    out = _outputs(capsys.readouterr().out)
    assert out[0] == {"skipped": {"reason": "consent_denied", "field": "marketing_consent"}}
    assert out[1]["user_data"] == {"device_id": "d-1"}
