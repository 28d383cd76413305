"""Match quality for `report`: per event name, which identifiers the delivered events carried
and why identifiers were dropped, each drop with a one-line hint on what to fix.

Shares are of the DELIVERED results of that event name: what Spotify received and will try to
attribute. Read from the results' `identifiers` and `identifiers_dropped` (kinds and reasons,
never values).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.transform.identifiers import KINDS

TOP_DROPS = 3

_PROPERTY = {
    "email": "email",
    "phone": "phone",
    "ip": "$ip",
    "device_id": "$device_id",
    "click_id": "$spclid",
}
_FIELD = {
    "email": "hashed_emails",
    "phone": "hashed_phone_number",
    "ip": "ip_address",
    "device_id": "device_id",
    "click_id": "clickID",
}
_HINTS = {
    ("email", "invalid"): "send plain addresses (name@domain), one per list entry",
    ("phone", "invalid"): "send E.164 or set transform.default_phone_region",
    ("ip", "invalid"): "send the client's IPv4 or IPv6 address in $ip",
}


def hint(kind: str, reason: str) -> str:
    """What a sender does about identifiers of `kind` dropped for `reason`."""
    prop = _PROPERTY.get(kind, kind)
    if (kind, reason) in _HINTS:
        return _HINTS[(kind, reason)]
    if reason == "placeholder":
        return f"leave {prop} out when unknown instead of a stand-in like undefined or all zeros"
    if reason == "refused":
        return "Spotify refused the field for this connection; the event went without it"
    if reason == "too_long":
        return f"check what fills {prop}, or raise transform.max_length.{kind}"
    if reason == "not_allowed":
        return f"add user_data.{_FIELD.get(kind, kind)} to transform.allowed_fields if it may go"
    return f"check what fills {prop}"


@dataclass
class MatchQuality:
    delivered: dict[str, int] = field(default_factory=Counter)
    carried: dict[str, Counter[str]] = field(default_factory=dict)
    only_ip: dict[str, int] = field(default_factory=Counter)
    dropped: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, name: str, carried: Sequence[str], dropped: Sequence[str]) -> None:
        """A DELIVERED result of event `name`: its `identifiers` and `identifiers_dropped`."""
        self.delivered[name] += 1
        self.carried.setdefault(name, Counter()).update(carried)
        if list(carried) == ["ip"]:
            self.only_ip[name] += 1
        self.dropped.setdefault(name, Counter()).update(dropped)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        for name in sorted(self.delivered):
            events = self.delivered[name]
            drops = self.dropped[name].most_common(TOP_DROPS)
            wire[name] = {
                "delivered": events,
                "with": {kind: _share(self.carried[name][kind], events) for kind in KINDS},
                "only_ip": _share(self.only_ip[name], events),
                "top_dropped": [_drop(key, count, events) for key, count in drops],
            }
        return wire


def _share(count: int, total: int) -> float:
    return round(count / total, 4)


def _drop(key: str, count: int, events: int) -> dict[str, Any]:
    kind, _, reason = key.partition(":")
    return {
        "kind": kind,
        "reason": reason,
        "events": count,
        "share": _share(count, events),
        "hint": hint(kind, reason),
    }


def render_match_quality(quality: dict[str, Any]) -> list[str]:
    """The table's match-quality section: shares per kind, then each event name's top drops."""
    if not quality:
        return []
    lines = [
        "  match quality (share of delivered events carrying each identifier)",
        f"  {'event name':<20}{'delivered':>10}"
        + "".join(f"{kind:>10}" for kind in KINDS)
        + f"{'only ip':>10}",
    ]
    for name, row in quality.items():
        shares = "".join(f"{_percent(row['with'][kind]):>10}" for kind in KINDS)
        only_ip = _percent(row["only_ip"])
        lines.append(f"  {name:<20}{row['delivered']:>10}{shares}{only_ip:>10}")
    drops = [(name, drop) for name, row in quality.items() for drop in row["top_dropped"]]
    if drops:
        lines.append("  identifiers dropped (top reasons per event name)")
        lines += [
            f"  {name:<20}{drop['kind']}: {_percent(drop['share'])} dropped as "
            f"{drop['reason'].replace('_', ' ')}: {drop['hint']}"
            for name, drop in drops
        ]
    return [*lines, ""]


def _percent(share: float) -> str:
    return f"{round(share * 100)} %"
