"""Learned refusals: a field Spotify keeps refusing on a connection is left out up front.

Healing (connector/sink/heal.py) mends one refused event at a time: about three requests an
event, for as long as Spotify refuses the field. Here the sink of one connection remembers: once
Spotify has refused the same contract path for `learn_after` different events within
`learn_window_s`, every event of the connection goes without it for `learned_ttl_s`, and a batch
refused for it goes again whole, without it, instead of being bisected. After the TTL one batch
that carries the field probes: accepted, the field is sent again from then on; refused, it is
stripped for another TTL. A field Spotify requires is never learned, and an event is never
stripped of its last identifier (it goes as it is, and healing or the dead-letter topic decides).

A stripped event says so on its result (`SinkItem.removed`), as a healed one does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import NamedTuple

import orjson

from connector.sink.heal import (
    CONTRACT_PATHS,
    IDENTIFIERS,
    REQUIRED,
    REQUIRED_FOR_PURCHASE,
    has_field,
    removable,
    without,
)
from connector.sink.items import SinkItem, SinkObserver
from connector.sink.transport import Answer

log = logging.getLogger(__name__)

# Never stripped for a whole connection: Spotify needs them (PURCHASE's amount and currency too).
NEVER_LEARNED = REQUIRED | REQUIRED_FOR_PURCHASE


Encode = Callable[[Iterable[bytes]], bytes]  # the payloads of a batch → its request body


class Outgoing(NamedTuple):
    """A batch as it goes: its items, its body, and what was left out of it."""

    items: tuple[SinkItem, ...]
    body: bytes
    cut: tuple[str, ...] = ()  # fields cut out of the body: an item went without one it carries
    probe: tuple[str, ...] = ()  # learned fields it sends again, to see if Spotify takes them

    def went_without(self, item: SinkItem) -> tuple[str, ...]:
        """The fields `item` went without: its own `removed`, and those cut that it carries."""
        if not self.cut:
            return item.removed
        return (*item.removed, *(path for path in self.cut if _key(path) in item.payload))


class StrippedField(NamedTuple):
    """A field a connection sends no more, since when (epoch ms)."""

    connection: str
    path: str
    since_ms: int


@dataclass(slots=True)
class _Learned:
    since_ms: int
    until_ms: int  # then one batch probes with the field
    probing: bool = False


class RefusalBook:
    """Which fields a connection strips now, from the refusals Spotify gave. Pure: the clock is
    an argument to every call."""

    def __init__(self, after: int, window_ms: int, ttl_ms: int) -> None:
        self._after = after
        self._window_ms = window_ms
        self._ttl_ms = ttl_ms
        self._seen: dict[str, dict[str, int]] = {}  # path → event id → its last refusal (ms)
        self._learned: dict[str, _Learned] = {}

    @property
    def active(self) -> bool:
        """Some field is stripped or due for a probe."""
        return bool(self._learned)

    def refused(self, path: str, event_ids: Iterable[str], now_ms: int) -> bool:
        """Spotify refused `path` for these events; True when that makes it learned now."""
        if path in NEVER_LEARNED or path in self._learned:
            return False
        seen = self._seen.setdefault(path, {})
        for event_id in event_ids:
            seen.pop(event_id, None)  # re-inserted: the dict stays in refusal order
            seen[event_id] = now_ms
        cutoff = now_ms - self._window_ms
        for event_id in [e for e, at in seen.items() if at < cutoff]:
            del seen[event_id]
        if len(seen) < self._after:
            return False
        del self._seen[path]
        self._learned[path] = _Learned(now_ms, now_ms + self._ttl_ms)
        return True

    def until_ms(self, path: str) -> int:
        """When a learned field is next probed."""
        return self._learned[path].until_ms

    def plan(self, now_ms: int) -> tuple[list[str], list[str]]:
        """(paths to strip now, paths due for a probe)."""
        strip: list[str] = []
        due: list[str] = []
        for path, learned in self._learned.items():
            (strip if learned.probing or now_ms < learned.until_ms else due).append(path)
        return strip, due

    def probe_started(self, path: str) -> None:
        self._learned[path].probing = True

    def probe_accepted(self, path: str) -> int | None:
        """Spotify took the field again: it is sent from now on. Since when it was stripped."""
        learned = self._learned.pop(path, None)
        return None if learned is None else learned.since_ms

    def probe_refused(self, path: str, now_ms: int) -> None:
        """Still refused: stripped for another TTL."""
        learned = self._learned.get(path)
        if learned is not None:
            learned.until_ms = now_ms + self._ttl_ms
            learned.probing = False

    def probe_unanswered(self, path: str) -> None:
        """The probe ended without a verdict on the field: the next batch that carries it probes."""
        learned = self._learned.get(path)
        if learned is not None:
            learned.probing = False

    def stripped(self) -> list[tuple[str, int]]:
        """(path, since ms) of every learned field."""
        return [(path, learned.since_ms) for path, learned in self._learned.items()]


class LearnedRefusals:
    """The book of one connection's sink, applied to its items, with its log lines and metrics."""

    def __init__(
        self, connection: str, book: RefusalBook, observer: SinkObserver, window_s: float
    ) -> None:
        self._connection = connection
        self._book = book
        self._observer = observer
        self._window_s = window_s
        self.snapshot: tuple[StrippedField, ...] = ()  # replaced whole: read from other threads
        self.generation = 0  # grows when a field is learned: batches built before are out of date

    def outgoing(self, items: Sequence[SinkItem], now_ms: int, encode: Encode) -> Outgoing:
        """The batch of `items` as it goes now: the fields stripped now left out, and the
        fields it probes with."""
        if not self._book.active:
            return Outgoing(tuple(items), encode(item.payload for item in items))
        strip, due = self._book.plan(now_ms)
        probe = tuple(path for path in due if any(_carries(item, path) for item in items))
        for path in probe:
            self._book.probe_started(path)
        return _without_fields(items, strip, encode)._replace(probe=probe)

    def went_without(self, events: Iterable[tuple[str, ...]]) -> None:
        """Count the events answered, by the learned fields each went without."""
        counts: dict[str, int] = {}
        for fields in events:
            for path in fields:
                counts[path] = counts.get(path, 0) + 1
        for path, count in counts.items():
            self._observer.on_fields_stripped(path, count)

    def refused(
        self, items: Sequence[SinkItem], answer: Answer, probe: tuple[str, ...], now_ms: int
    ) -> None:
        """Learn from a 400 for `items` (a probe's refusal renews its field's TTL)."""
        refused: dict[str, set[str]] = {}
        for index, path in answer.named_events:
            if index < len(items):
                refused.setdefault(path, set()).add(items[index].event_id)
        if len(items) == 1:  # a lone event: whatever the answer names is its own
            for path in answer.named_fields:
                refused.setdefault(path, set()).add(items[0].event_id)
        for path, event_ids in refused.items():
            if path in probe:
                self._book.probe_refused(path, now_ms)
                log.debug("Spotify still refuses %s on connection %s", path, self._connection)
            elif self._book.refused(path, event_ids, now_ms):
                self.generation += 1
                self._changed()
                log.warning(
                    "Spotify refuses %s on connection %s (events refused: %d within %g s): "
                    "sending it no more until a probe at %s",
                    path,
                    self._connection,
                    len(event_ids),
                    self._window_s,
                    _iso(self._book.until_ms(path)),
                )

    def probe_over(self, probe: tuple[str, ...], *, accepted: bool) -> None:
        """The probe batch was accepted (the fields go again), or ended without a verdict."""
        for path in probe:
            if not accepted:
                self._book.probe_unanswered(path)
                continue
            since_ms = self._book.probe_accepted(path)
            if since_ms is not None:
                self._changed()
                log.warning(
                    "Spotify accepts %s on connection %s again: sent from now on "
                    "(stripped since %s)",
                    path,
                    self._connection,
                    _iso(since_ms),
                )

    def _changed(self) -> None:
        self.snapshot = tuple(
            StrippedField(self._connection, path, since_ms)
            for path, since_ms in self._book.stripped()
        )


@cache
def _key(path: str) -> bytes:
    """The field's key as orjson writes it, to skip events that cannot carry it."""
    return b'"' + path.rpartition(".")[2].encode() + b'":'


def _carries(item: SinkItem, path: str) -> bool:
    """Exact on the compact JSON the transform writes (see `_cut`)."""
    return _key(path) in item.payload


def _without_fields(items: Sequence[SinkItem], paths: Sequence[str], encode: Encode) -> Outgoing:
    """The batch without `paths`. A text field (`_CUTTABLE`) is cut out of the encoded body in one
    pass, and its items stay as they are (`Outgoing.cut` names it; an item carries it when its key
    is in the payload); any other field, or one that is not written the way the pass expects in
    some item, is taken out of each item that carries it."""
    each = [path for path in paths if path not in _CUTTABLE]
    while True:
        stripped = list(items)
        for path in each:
            key = _key(path)
            for index, item in enumerate(stripped):
                if key in item.payload:
                    stripped[index] = _without(item, path, key)
        body, cut = encode(item.payload for item in stripped), []
        for path in paths:
            key = _key(path)
            carriers = 0 if path in each else sum(key in item.payload for item in stripped)
            if carriers:
                body, found = _CUT_ALL[path].subn(b"", body)
                if found != carriers:  # first in its object, or not text: item by item
                    each.append(path)
                    break
                cut.append(path)
        else:
            return Outgoing(tuple(stripped), body, tuple(cut))


def _without(item: SinkItem, path: str, key: bytes) -> SinkItem:
    """The item without `path` (its `key` is in the payload), unless that leaves it unsendable:
    cut out of the bytes where it can be, else parsed, checked and written again."""
    payload = _cut(item.payload, path, key)
    if payload is None:
        event = orjson.loads(item.payload)
        if not has_field(event, path) or not removable(event, (path,)):
            return item
        payload = orjson.dumps(without(event, (path,)))
    # The fields in SinkItem's order: _replace costs ~1 µs more.
    removed = (*item.removed, path)
    return SinkItem(item.ref, item.event_id, payload, item.connection, removed, item.trace)


# Fields whose removal never makes an event unsendable (no identifier, nothing PURCHASE needs):
# they are cut out of the JSON's bytes, ~10 times cheaper than parsing and writing it again.
_CUTTABLE = (
    CONTRACT_PATHS
    - NEVER_LEARNED
    - {"user_data", "event_details"}
    - {f"user_data.{key}" for key in IDENTIFIERS}
)
_TEXT_VALUE = re.compile(rb'"(?:[^"\\]|\\.)*"')
# Each text field after another field of its object, as it stands in an encoded body.
_CUT_ALL = {
    path: re.compile(re.escape(b"," + _key(path)) + _TEXT_VALUE.pattern) for path in _CUTTABLE
}
_COMMA = ord(",")


def _cut(payload: bytes, path: str, key: bytes) -> bytes | None:
    """`payload` without `path` and its text value, or None when that needs the JSON parsed:
    the value is not text, the field is the only one of its object, or removing it could
    matter. Sound on the compact JSON the transform writes: a leaf name belongs to one section,
    and a quote inside a text value is escaped, so `"clickID":` only ever starts that field."""
    if path not in _CUTTABLE:
        return None
    start = payload.find(key)
    value = None if start < 0 else _TEXT_VALUE.match(payload, start + len(key))
    if value is None:
        return None
    end = value.end()
    before = start > 0 and payload[start - 1] == _COMMA
    after = end < len(payload) and payload[end] == _COMMA
    if before:
        return payload[: start - 1] + payload[end:]
    if after:
        return payload[:start] + payload[end + 1 :]
    return None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
