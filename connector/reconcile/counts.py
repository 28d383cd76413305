"""Both sides' counts, per Spotify event name and time bucket (the start of a UTC hour or day, in
epoch ms): what the connector delivered (its results) and what Spotify counted (the dataset's
diagnostics, CAPI datasources only).

- Delivered: DELIVERED results of the connection, each event id once (a redelivery after a crash
  is delivered twice but counted once by Spotify, which deduplicates), in the bucket of its
  `settled_at` (Spotify's answer; its diagnostics count by receipt, a moment before).
- Counted: diagnostics names are Spotify's internal signal names where they differ from the CAPI
  event names (`ADDTOCART`, `CHECKOUT`, `SIGNUP`): mapped back here, the one table of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from connector.schemas.avro import epoch_ms

Granularity = Literal["hour", "day"]
Key = tuple[str, int]  # (Spotify event name, bucket start in epoch ms)

BUCKET_MS: Final = {"hour": 3_600_000, "day": 86_400_000}
API_GRANULARITY: Final = {"hour": "HOURLY", "day": "DAILY"}
# Diagnostics name → CAPI event name, where they differ (Spotify's implementation guide: "The Ads
# API diagnostic schema may return internal signal names such as CHECKOUT, ADDTOCART, or SIGNUP").
CAPI_NAME_OF: Final = {"ADDTOCART": "ADD_TO_CART", "CHECKOUT": "CHECK_OUT", "SIGNUP": "SIGN_UP"}


def bucket_of(epoch_ms: int, granularity: Granularity) -> int:
    size = BUCKET_MS[granularity]
    return epoch_ms - epoch_ms % size


@dataclass
class Delivered:
    """What one connection delivered, per event name and bucket; the newest settled time of each
    bucket (a bucket is compared once its newest delivery is older than the processing delay)."""

    counts: Counter[Key] = field(default_factory=Counter)
    newest_ms: dict[int, int] = field(default_factory=dict)  # bucket → newest settled_at


@dataclass
class DeliveredCounts:
    granularity: Granularity
    since_ms: int
    by_connection: dict[str, Delivered] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set)  # (connection, event id)

    def add(self, record: dict[str, Any]) -> None:
        """A result record as `report` reads it."""
        if record.get("status") != "DELIVERED":
            return
        settled = epoch_ms(record["settled_at"])
        if settled < self.since_ms:
            return
        connection = record.get("connection") or "default"
        event_id = record.get("event_id")
        if event_id is not None:
            if (connection, event_id) in self._seen:
                return
            self._seen.add((connection, event_id))
        bucket = bucket_of(settled, self.granularity)
        delivered = self.by_connection.setdefault(connection, Delivered())
        delivered.counts[(record.get("event_name") or "(none)", bucket)] += 1
        delivered.newest_ms[bucket] = max(settled, delivered.newest_ms.get(bucket, settled))


@dataclass(frozen=True)
class Counted:
    """What Spotify counted in one dataset, from its diagnostics."""

    counts: Counter[Key]
    has_capi: bool  # a CAPI datasource is in the diagnostics at all
    last_activity_ms: int | None  # the newest CAPI event Spotify saw


def counted_from(diagnostics: dict[str, Any], granularity: Granularity, since_ms: int) -> Counted:
    counts: Counter[Key] = Counter()
    has_capi = False
    last: int | None = None
    for source in diagnostics.get("datasources") or ():
        if source.get("datasource_type") != "CAPI":
            continue
        if source.get("granularity") != API_GRANULARITY[granularity]:
            continue
        has_capi = True
        for point in source.get("timeseries") or ():
            bucket = bucket_of(int(point.get("timestamp") or 0), granularity)
            if bucket + BUCKET_MS[granularity] <= since_ms:
                continue
            for event in point.get("event_counts") or ():
                name = str(event.get("name") or "(none)")
                counts[(CAPI_NAME_OF.get(name, name), bucket)] += int(event.get("event_count") or 0)
                activity = event.get("last_activity_ms")
                if isinstance(activity, (int, float)):
                    last = max(int(activity), last or 0)
    return Counted(counts, has_capi, last)
