"""What a backfill covers and how it runs, from its arguments and the live settings.

- The range: `--from` up to `--to` (now when not given; a `--to` in the future is clamped to now
  with a line saying so). A start at or after the end is refused.
- The topics: `--topic` (each an input topic of the settings), else every named input topic.
- The settings: the live ones, reading the chosen topics with the backfill's own consumer group,
  `<group>-backfill-<id>`, routed to `--connection` when given, under the backfill's own
  request-rate caps (`--max-requests-per-second` for each connection, else a share of each
  connection's live cap).
- The id: `--id`, else one derived from the arguments as given, so the same command resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass

from connector.commands.report import iso_time, parse_time
from connector.config import DEFAULT_CONNECTION, RoutingSettings, Settings
from connector.errors import InputError

# A backfill killed leaves its member in the group until the session expires, and the run that
# resumes waits for that: shorter than the client's 45 s default (the broker's minimum is 6 s).
SESSION_TIMEOUT_MS = "10000"
# The backfill's default cap: this share of each connection's live cap (docs/operations.md,
# "Backfill": live + backfill stay within what Spotify allows).
LIVE_CAP_SHARE = 0.25
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # as the chart takes it


@dataclass(frozen=True)
class BackfillPlan:
    id: str
    from_ms: int
    to_ms: int
    topics: tuple[str, ...]
    connection: str | None  # every event goes there; None: the routing rules decide
    caps: dict[str, float | None]  # per connection: the backfill's request-rate cap
    settings: Settings  # what the backfill's pipeline runs with
    notes: tuple[str, ...]  # lines the command prints before it starts

    @property
    def group_id(self) -> str:
        return self.settings.kafka.group_id


def plan_backfill(settings: Settings, args: argparse.Namespace, now_ms: int) -> BackfillPlan:
    """The plan, or InputError naming what is wrong with the arguments."""
    notes: list[str] = []
    from_ms = _time(args.from_, "--from", now_ms)
    to_ms = now_ms if args.to is None else _time(args.to, "--to", now_ms)
    if to_ms > now_ms:
        notes.append(f"--to is in the future: the range ends now ({_iso(now_ms)})")
        to_ms = now_ms
    if from_ms >= to_ms:
        raise InputError(
            f"the range is empty: --from ({_iso(from_ms)}) must be before --to ({_iso(to_ms)})"
        )
    topics = _topics(settings, args.topics)
    connection = args.connection
    known = settings.spotify_connections()
    named = {DEFAULT_CONNECTION, *settings.spotify.connections}
    if connection is not None and connection not in named:
        raise InputError(
            f"--connection {connection}: no such connection (known: {', '.join(sorted(named))})"
        )
    backfill_id = args.id if args.id is not None else default_id(args)
    if not _ID.match(backfill_id):
        raise InputError(
            "--id must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    max_event_age_s = settings.transform.max_event_age_s
    if max_event_age_s is not None and from_ms < now_ms - max_event_age_s * 1000:
        notes.append(
            f"events older than transform.max_event_age_s ({max_event_age_s:g} s) are rejected "
            "as in a live run"
        )
    routed = settings if connection is None else _routed_to(settings, connection)
    names = [connection] if connection is not None else list(known)
    caps = {name: _cap(settings, name, args.max_requests_per_second) for name in names}
    if all(cap is None for cap in caps.values()):
        notes.append(
            "no request-rate cap: no live cap is set to take a share of; the backfill competes "
            "with live traffic (--max-requests-per-second sets one)"
        )
    client_properties = {"session.timeout.ms": SESSION_TIMEOUT_MS, **routed.kafka.client_properties}
    kafka = routed.kafka.model_copy(
        update={
            "input_topic": ",".join(topics),
            "group_id": f"{settings.kafka.group_id}-backfill-{backfill_id}",
            "client_properties": client_properties,
        }
    )
    return BackfillPlan(
        id=backfill_id,
        from_ms=from_ms,
        to_ms=to_ms,
        topics=topics,
        connection=connection,
        caps=caps,
        settings=_capped(routed, caps).model_copy(update={"kafka": kafka}),
        notes=tuple(notes),
    )


def default_id(args: argparse.Namespace) -> str:
    """A short hash of the arguments as given: running the same command again resumes."""
    given = "|".join(
        [args.from_, args.to or "", ",".join(sorted(args.topics or ())), args.connection or ""]
    )
    return hashlib.sha256(given.encode()).hexdigest()[:10]


def _time(text: str, flag: str, now_ms: int) -> int:
    try:
        return parse_time(text, now_ms)
    except argparse.ArgumentTypeError as exc:
        raise InputError(f"{flag}: {exc}") from None


def _topics(settings: Settings, asked: list[str] | None) -> tuple[str, ...]:
    inputs = settings.kafka.input_topics
    if not asked:
        named = settings.kafka.named_input_topics
        if not named:
            raise InputError(
                f"kafka.input_topic is a pattern ({inputs[0]}): name the topics with --topic"
            )
        return tuple(named)
    for topic in asked:
        pattern = inputs[0] if inputs[0].startswith("^") else None
        if topic not in inputs and not (pattern is not None and re.match(pattern, topic)):
            raise InputError(
                f"--topic {topic} is not an input topic (kafka.input_topic: "
                f"{settings.kafka.input_topic})"
            )
    return tuple(dict.fromkeys(asked))


def _routed_to(settings: Settings, connection: str) -> Settings:
    routing = RoutingSettings(by="topic", routes={}, default=connection)
    return settings.model_copy(update={"routing": routing})


def _cap(settings: Settings, connection: str, asked: float | None) -> float | None:
    if asked is not None:
        return asked
    live = settings.max_requests_per_second(connection)
    return None if live is None else live * LIVE_CAP_SHARE


def _capped(settings: Settings, caps: dict[str, float | None]) -> Settings:
    """The settings with each connection's cap the backfill's (`sink.max_requests_per_second`
    is the default connection's and every other's without a cap of its own)."""
    connections = {
        name: own.model_copy(update={"max_requests_per_second": caps.get(name)})
        for name, own in settings.spotify.connections.items()
    }
    spotify = settings.spotify.model_copy(update={"connections": connections})
    sink = settings.sink.model_copy(
        update={"max_requests_per_second": caps.get(DEFAULT_CONNECTION)}
    )
    return settings.model_copy(update={"spotify": spotify, "sink": sink})


def _iso(ms: int) -> str:
    return iso_time(ms) or ""
