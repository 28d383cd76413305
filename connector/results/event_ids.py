"""Where a result's event id came from, and `report`'s deduplication readiness from it.

Spotify deduplicates a Pixel event and a Conversions API event only when both carry the same
stable, business-level `event_id` (an order or lead id). An event without `$event_id` gets one
derived from its Kafka coordinates (connector/transform/event_id.py): stable across redeliveries,
so Spotify never counts a redelivery twice, but unknown to the Pixel. The result's
`event_id_source` says which: `event` (the event's own `$event_id`) or `derived`.

The source is told from the id itself: an id is `derived` when it equals the id derived from the
result's coordinates (a UUIDv5 of them; a given id equal to it is the same id). Checked on the
id's shape first, so a given order id costs a length test and the hash runs only for UUIDv5s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from connector.models import SourceCoordinates
from connector.transform.event_id import derive_event_id

EVENT: Final = "event"  # the event's own $event_id
DERIVED: Final = "derived"  # derived from the record's topic, partition and offset
HINT: Final = (
    "send the order or lead id as $event_id, as the Pixel does, or Pixel and CAPI will double count"
)
_UUID_LENGTH: Final = 36
_VERSION_AT: Final = 14  # the version digit of a UUID's text


def event_id_source(coordinates: SourceCoordinates, event_id: str | None) -> str | None:
    """`derived`, `event`, or None for a result without an event id (undecodable, rejected
    before the id)."""
    if event_id is None:
        return None
    if (
        len(event_id) == _UUID_LENGTH
        and event_id[_VERSION_AT] == "5"
        and event_id == derive_event_id(coordinates)
    ):
        return DERIVED
    return EVENT


@dataclass
class EventIdSources:
    """Per event name, the delivered events whose id was the event's own or derived."""

    by_name: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, event_name: str, source: str | None) -> None:
        if source is not None:  # results written before the field have none
            self.by_name.setdefault(event_name, Counter())[source] += 1

    def to_wire(self) -> dict[str, Any]:
        names = {}
        for name, counts in sorted(self.by_name.items()):
            total = counts[EVENT] + counts[DERIVED]
            names[name] = {
                EVENT: counts[EVENT],
                DERIVED: counts[DERIVED],
                "derived_share": round(counts[DERIVED] / total, 4) if total else 0.0,
            }
        derived = any(row[DERIVED] for row in names.values())
        return {"by_event_name": names, "hint": HINT if derived else None}


def render_event_id_sources(wire: dict[str, Any]) -> list[str]:
    """The table `report` and `make demo` print: the derived share per event name, and the hint
    when any id was derived."""
    rows = wire["by_event_name"]
    if not rows:
        return []
    lines = [f"  {'event ids (delivered)':<24}{'$event_id':>10}{'derived':>10}{'derived %':>11}"]
    lines += [
        f"  {name:<24}{row[EVENT]:>10}{row[DERIVED]:>10}{100 * row['derived_share']:>10.1f}%"
        for name, row in rows.items()
    ]
    if wire["hint"] is not None:
        lines.append(f"  derived ids: {wire['hint']}")
    return [*lines, ""]
