"""Healing an event Spotify refused on its own (400): send it again with less, never with more.

Spotify does not publish which fields it refuses. When a lone event is answered 400, the sink
asks `next_step` for a smaller payload: first without the fields the answer names (at most
`MAX_NAMED_STEPS` times), then once reduced to the fields Spotify's guide documents; after that,
or when the only fix would remove a required field, there is no next step and the event is
dead-lettered. Pure: JSON bytes in, JSON bytes out; fields are named by their contract path
(`user_data.clickID`), never by a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import orjson

from connector.models import USER_DATA_KEYS

MAX_NAMED_STEPS = 2  # resends without named fields; then one reduction; then give up
WARNING_CODE = "spotify_400_removed"  # result warning `spotify_400_removed:<contract path>`

IDENTIFIERS = ("ip_address", "device_id", "hashed_emails", "hashed_phone_number")
REQUIRED = frozenset({"event_id", "event_name", "event_time", "user_data"})
REQUIRED_FOR_PURCHASE = frozenset(
    {"event_details", "event_details.amount", "event_details.currency"}
)

# What Spotify's implementation guide documents: the reduction keeps these and nothing else.
DOCUMENTED: Mapping[str, frozenset[str]] = {
    "": frozenset(
        {
            "event_id",
            "event_name",
            "event_time",
            "action_source",
            "opt_out_targeting",
            "event_source_url",
            "user_data",
            "event_details",
        }
    ),
    "user_data": frozenset(IDENTIFIERS),
    "event_details": frozenset({"amount", "currency", "content_name", "content_category"}),
}
CONTRACT_PATHS = frozenset(
    [
        *DOCUMENTED[""],
        *(f"user_data.{key}" for key in USER_DATA_KEYS),
        *(f"event_details.{key}" for key in DOCUMENTED["event_details"]),
    ]
)


def _looks_like_a_name(leaf: str) -> bool:
    """`content_category` or `clickID` cannot be an ordinary word of a message; `amount` can."""
    return not (leaf.isascii() and leaf.isalpha() and leaf.islower())


# A field's own name stands for its path when it cannot be mistaken for a word of the text.
_BY_LEAF = {
    path.rpartition(".")[2]: path
    for path in CONTRACT_PATHS
    if _looks_like_a_name(path.rpartition(".")[2])
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def named_fields(body: Any) -> tuple[str, ...]:
    """The contract fields a 400 body names, in order, each once; () when it names none.

    Reads the detailed form (`errors: [{"field": ...}]`) and the Ads API's ErrorResponse
    (`messages`, `error_codes`: texts, scanned for contract names only).
    """
    if not isinstance(body, dict):
        return ()
    texts: list[str] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        texts += [
            e["field"] for e in errors if isinstance(e, dict) and isinstance(e.get("field"), str)
        ]
    for key in ("messages", "error_codes"):
        values = body.get(key)
        if isinstance(values, list):
            texts += [value for value in values if isinstance(value, str)]
    found: dict[str, None] = {}
    for text in texts:
        for token in _NAME.findall(text[:1000]):
            path = token if token in CONTRACT_PATHS else _BY_LEAF.get(token)
            if path is not None:
                found[path] = None
    return tuple(found)


_EVENT_FIELD = re.compile(r"events\[(\d{1,4})\]\.(" + _NAME.pattern + ")")


def named_event_fields(body: Any) -> tuple[tuple[int, str], ...]:
    """(event index, contract path) for each problem a 400 body ties to one event of the batch:
    the detailed form's `index` and `field`, or `events[3].user_data.clickID` in a message."""
    if not isinstance(body, dict):
        return ()
    found: dict[tuple[int, str], None] = {}
    errors = body.get("errors")
    if isinstance(errors, list):
        for error in errors:
            if not isinstance(error, dict):
                continue
            index, path = error.get("index"), error.get("field")
            if type(index) is int and index >= 0 and isinstance(path, str):
                path = path if path in CONTRACT_PATHS else _BY_LEAF.get(path)
                if path is not None:
                    found[index, path] = None
    messages = body.get("messages")
    if isinstance(messages, list):
        for text in messages:
            if isinstance(text, str):
                for index, path in _EVENT_FIELD.findall(text[:1000]):
                    if path in CONTRACT_PATHS:
                        found[int(index), path] = None
    return tuple(found)


def removal_warnings(removed: Iterable[str]) -> tuple[str, ...]:
    """The result warnings for fields healing removed: `spotify_400_removed:<contract path>`."""
    return tuple(f"{WARNING_CODE}:{path}" for path in removed)


@dataclass(frozen=True, slots=True)
class Healing:
    """Where the healing of one event stands."""

    first_answer: str  # Spotify's first 400, kept for the dead letter
    removed: tuple[str, ...] = ()  # contract paths, in the order they were removed
    named_steps: int = 0
    reduced: bool = False

    def refused(self, last_answer: str) -> str:
        """The dead letter's message: both answers, and what was tried between them."""
        if not self.removed:
            return last_answer
        removed = ", ".join(self.removed)
        return f"{self.first_answer} | sent again without {removed}: {last_answer}"


class Step(NamedTuple):
    payload: bytes
    healing: Healing


def next_step(payload: bytes, named: Sequence[str], healing: Healing) -> Step | None:
    """The payload to send next for an event refused with a 400 naming `named`; None: give up."""
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not _well_formed(event) or (named and not removable(event, named)):
        return None  # not ours to heal, or the answer refuses what the event cannot go without
    present = [path for path in named if has_field(event, path)]
    if present and not healing.reduced and healing.named_steps < MAX_NAMED_STEPS:
        removed = healing.removed + tuple(present)
        step = replace(healing, removed=removed, named_steps=healing.named_steps + 1)
        return Step(orjson.dumps(without(event, present)), step)
    smaller, dropped = reduced(event)
    if healing.reduced or not dropped:
        return None
    return Step(
        orjson.dumps(smaller), replace(healing, removed=healing.removed + dropped, reduced=True)
    )


def removable(event: Mapping[str, Any], paths: Iterable[str]) -> bool:
    """False if removing `paths` would leave the event without a field Spotify requires."""
    paths = set(paths)
    if paths & REQUIRED:
        return False
    if event.get("event_name") == "PURCHASE" and paths & REQUIRED_FOR_PURCHASE:
        return False
    user_data = event["user_data"]
    return any(user_data.get(key) and f"user_data.{key}" not in paths for key in IDENTIFIERS)


def without(event: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """A copy of `event` without `paths`; an `event_details` left empty goes too."""
    smaller = dict(event)
    for path in paths:
        parent, _, leaf = path.rpartition(".")
        if not parent:
            smaller.pop(leaf, None)
        elif isinstance(smaller.get(parent), dict):
            section = {key: value for key, value in smaller[parent].items() if key != leaf}
            smaller[parent] = section
    if smaller.get("event_details") == {}:
        del smaller["event_details"]
    return smaller


def reduced(event: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`event` with only the documented fields, and the paths of what was dropped."""
    dropped = [_reported(key) for key in event if key not in DOCUMENTED[""]]
    smaller = {key: value for key, value in event.items() if key in DOCUMENTED[""]}
    for section in ("user_data", "event_details"):
        fields = smaller.get(section)
        if isinstance(fields, dict):
            keep = DOCUMENTED[section]
            dropped += [_reported(f"{section}.{key}") for key in fields if key not in keep]
            smaller[section] = {key: value for key, value in fields.items() if key in keep}
    if smaller.get("event_details") == {}:
        del smaller["event_details"]
    return smaller, tuple(dropped)


def _reported(path: str) -> str:
    """A contract path as it is; anything else by its section only (never a foreign key)."""
    if path in CONTRACT_PATHS:
        return path
    parent = path.rpartition(".")[0]
    return f"{parent}.(unknown)" if parent else "(unknown)"


def has_field(event: Mapping[str, Any], path: str) -> bool:
    parent, _, leaf = path.rpartition(".")
    section = event.get(parent) if parent else event
    return isinstance(section, dict) and leaf in section


def _well_formed(event: Any) -> bool:
    """What healing relies on; the transform always builds it, so anything else is left alone."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("user_data"), dict)
        and isinstance(event.get("event_details", {}), dict)
    )
