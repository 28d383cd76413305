"""Delivered against counted, per connection, event name and bucket, and what a gap likely means.

- A bucket is **pending** while Spotify may still be counting it: until the processing delay has
  passed since the bucket ended or, for a bucket still open, since the newest event the connector
  delivered in it. Pending buckets are shown, never counted as gaps.
- An event Spotify received just before a bucket's end is settled (answered) just after it: a
  bucket Spotify counted more in, followed by one it counted less in, is netted first.
- gap = delivered - counted: above 0 a **gap** (delivered, not counted); below 0 a **surplus**
  (counted, not delivered by this connector: another sender on the dataset, or deliveries before
  the window).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from connector.reconcile.counts import Counted, Delivered

State = Literal["ok", "gap", "surplus", "pending"]


@dataclass(frozen=True)
class Row:
    connection: str
    event_name: str
    bucket_ms: int
    delivered: int
    counted: int
    gap: int  # after netting with the bucket before; 0 while pending
    state: State


@dataclass(frozen=True)
class Total:
    """Over the compared (not pending) buckets of the window."""

    connection: str
    event_name: str
    delivered: int
    counted: int
    gap: int  # the buckets' gaps (surpluses do not hide them)

    @property
    def gap_ratio(self) -> float:
        return self.gap / self.delivered if self.delivered else 0.0


@dataclass(frozen=True)
class Dataset:
    """One connection's side at Spotify."""

    connection: str
    dataset_id: str
    counted: Counted
    linked: bool  # its CAPI integration's `dataset_id` is this dataset


@dataclass(frozen=True)
class Reconciliation:
    rows: list[Row]
    totals: list[Total]
    causes: list[str]

    @property
    def gap(self) -> int:
        return sum(total.gap for total in self.totals)


def reconcile(
    delivered: dict[str, Delivered],
    datasets: Iterable[Dataset],
    *,
    granularity_ms: int,
    delay_ms: int,
    now_ms: int,
) -> Reconciliation:
    rows: list[Row] = []
    totals: list[Total] = []
    causes: list[str] = []
    for dataset in datasets:
        ours = delivered.get(dataset.connection, Delivered())
        theirs = dataset.counted.counts
        own_totals = []
        for name in sorted({n for n, _ in ours.counts} | {n for n, _ in theirs}):
            buckets = sorted(
                {b for n, b in ours.counts if n == name} | {b for n, b in theirs if n == name}
            )
            settled = {
                b: _settled(b, ours.newest_ms.get(b), granularity_ms, delay_ms, now_ms)
                for b in buckets
            }
            compared = [b for b in buckets if settled[b]]
            gaps = dict(
                zip(
                    compared,
                    _netted([ours.counts[(name, b)] - theirs[(name, b)] for b in compared]),
                    strict=True,
                )
            )
            for b in buckets:
                sent, seen = ours.counts[(name, b)], theirs[(name, b)]
                gap = gaps.get(b, 0)
                state = _state(gap) if settled[b] else "pending"
                rows.append(Row(dataset.connection, name, b, sent, seen, gap, state))
            own_totals.append(
                Total(
                    dataset.connection,
                    name,
                    sum(ours.counts[(name, b)] for b in compared),
                    sum(theirs[(name, b)] for b in compared),
                    sum(gap for gap in gaps.values() if gap > 0),
                )
            )
        totals += own_totals
        causes += _causes(dataset, own_totals)
    return Reconciliation(rows, totals, causes)


def _settled(
    bucket: int, newest_ms: int | None, granularity_ms: int, delay_ms: int, now_ms: int
) -> bool:
    """Past the processing delay: the bucket ended, or its newest delivery was, that long ago."""
    end = bucket + granularity_ms
    if now_ms >= end + delay_ms:
        return True
    return newest_ms is not None and now_ms >= newest_ms + delay_ms


def _netted(gaps: list[int]) -> list[int]:
    """A surplus followed by a gap (Spotify counted on the bucket's last moment, the answer came
    in the next): the smaller of the two moves back."""
    netted = list(gaps)
    for i in range(len(netted) - 1):
        if netted[i] < 0 < netted[i + 1]:
            moved = min(-netted[i], netted[i + 1])
            netted[i] += moved
            netted[i + 1] -= moved
    return netted


def _state(gap: int) -> State:
    if gap > 0:
        return "gap"
    return "surplus" if gap < 0 else "ok"


def _causes(dataset: Dataset, totals: list[Total]) -> list[str]:
    """What the numbers most likely mean, in the words of Spotify's troubleshooting guide."""
    name, dataset_id = dataset.connection, dataset.dataset_id
    delivered = sum(t.delivered for t in totals)
    if not dataset.linked:
        return [
            f"{name}: the CAPI integration is not linked to dataset {dataset_id} (its dataset_id "
            "is not this dataset): Spotify accepts its events but cannot count or attribute "
            "them; remove the integration from the dataset and add it again"
        ]
    if delivered > 0 and not dataset.counted.has_capi:
        return [
            f"{name}: dataset {dataset_id} shows no CAPI activity at all while {delivered} "
            "events were delivered: is it this connection's dataset "
            "(ads_api.dataset_id / ads_api.connections.<name>.dataset_id)?"
        ]
    counted_any = any(t.counted > 0 for t in totals)
    return [
        f"{name}: Spotify counted no {t.event_name} at all ({t.delivered} delivered): "
        "a whole event name is missing from the dataset"
        for t in totals
        if counted_any and t.delivered > 0 and t.counted == 0
    ]
