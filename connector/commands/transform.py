"""`spotify-capi-connector transform [FILE] [--config FILE] [--now RFC3339]`: a dry run.

Reads JSON Lines, one tracking event a line (`{"event": ..., "properties": {...}, "timestamp":
<epoch ms, optional>}`; `user_id`, `anonymous_id`, `message_id` are accepted, other keys are
ignored), from FILE or stdin, and writes one JSON line per event: the Spotify event exactly as
it would go inside `events`, or `{"error": {"reason", "field", "message"}}`. Warnings go to
stderr as `line N: warning <code> (<property>)`. Blank lines are skipped. Nothing is sent.

Each line's source coordinates are topic `stdin` (or the file's name), partition 0, offset =
line number - 1, so derived event ids are those the connector would give the same records.
Exit 0 when every line was read, even if some were rejected; exit 2 (InputError) at the first
line that is not a tracking event, naming the line. Messages name a property of the table by its
name and any other by its position in the object (`property #3`): keys can be PII.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

from connector.errors import InputError
from connector.models import Accepted, Skipped, SourceCoordinates, TrackingEvent
from connector.transform import Transformer
from connector.transform.event_time import parse_event_time
from connector.transform.mapping import ALL_PROPERTIES
from connector.transform.problems import Invalid

NAME = "transform"
HELP = "dry run: turn JSON Lines tracking events into Spotify CAPI events and print them"

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_OPTIONAL_TEXT = ("user_id", "anonymous_id", "message_id")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", type=Path, help="JSON Lines input (default: stdin; '-' is stdin too)"
    )
    parser.add_argument("--config", type=Path, help="settings YAML file")
    parser.add_argument(
        "--now",
        type=_clock,
        metavar="RFC3339",
        help="fix the clock, e.g. 2026-01-23T12:34:56Z (default: the current time)",
    )


def run(args: argparse.Namespace) -> int:
    from connector.assemble import load_settings  # the parts judge what only they can

    settings = load_settings(args.config)
    transformer = Transformer(settings.transform)
    now_ms: int = args.now if args.now is not None else time.time_ns() // 1_000_000
    path: Path | None = args.file if args.file is not None and str(args.file) != "-" else None
    if path is None:
        _transform_lines(sys.stdin.buffer, "stdin", transformer, now_ms)
        return 0
    try:
        with path.open("rb") as lines:
            _transform_lines(lines, path.name, transformer, now_ms)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return 0


def _transform_lines(
    lines: Iterable[bytes], topic: str, transformer: Transformer, now_ms: int
) -> None:
    out: IO[str] = sys.stdout
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        event = parse_line(line, number)
        outcome = transformer.transform(event, SourceCoordinates(topic, 0, number - 1), now_ms)
        if isinstance(outcome, Skipped):
            skipped = {"reason": outcome.reason, "field": outcome.field}
            out.write(orjson.dumps({"skipped": skipped}).decode() + "\n")
            continue
        for warning in outcome.warnings:
            print(f"line {number}: warning {warning.code} ({warning.field})", file=sys.stderr)
        if isinstance(outcome, Accepted):
            record: dict[str, Any] = outcome.event.to_wire()
        else:
            rejection = outcome.rejection
            record = {
                "error": {
                    "reason": rejection.reason,
                    "field": rejection.field,
                    "message": rejection.message,
                }
            }
        out.write(orjson.dumps(record).decode() + "\n")


def parse_line(line: bytes, number: int) -> TrackingEvent:
    """One JSON line → TrackingEvent with the Avro schema's types, or InputError naming the line."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"line {number}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise InputError(f"line {number}: expected a JSON object")
    event = data.get("event")
    if not isinstance(event, str):
        raise InputError(f"line {number}: 'event' must be a string")
    properties = data.get("properties", {})
    if not isinstance(properties, dict):
        raise InputError(f"line {number}: 'properties' must be an object")
    for position, (key, value) in enumerate(properties.items(), start=1):
        if not _is_property_value(value):
            raise InputError(
                f"line {number}: {_property_label(key, position)} must be null, a boolean, "
                "a number, a string or a list of strings"
            )
    timestamp = data.get("timestamp")
    if timestamp is not None and not _is_long(timestamp):
        raise InputError(f"line {number}: 'timestamp' must be epoch milliseconds (an integer)")
    extras = {name: data.get(name) for name in _OPTIONAL_TEXT}
    for name, value in extras.items():
        if value is not None and not isinstance(value, str):
            raise InputError(f"line {number}: {name!r} must be a string")
    return TrackingEvent(
        event=event,
        properties=properties,
        timestamp_ms=timestamp,
        user_id=extras["user_id"],
        anonymous_id=extras["anonymous_id"],
        message_id=extras["message_id"],
    )


def _property_label(key: str, position: int) -> str:
    """A property of the table by its name; any other by its position: keys can be PII."""
    return f"property {key!r}" if key in ALL_PROPERTIES else f"property #{position}"


def _is_property_value(value: object) -> bool:
    if value is None or isinstance(value, bool | float | str):
        return True
    if isinstance(value, int):
        return _is_long(value)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_long(value: object) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and _LONG_MIN <= value <= _LONG_MAX
    )


def _clock(text: str) -> int:
    try:
        epoch_ms, _ = parse_event_time(text)
    except Invalid as problem:
        raise argparse.ArgumentTypeError(problem.message) from None
    return epoch_ms
