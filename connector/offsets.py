"""Which offsets are safe to commit. Pure: no Kafka, no clock, no I/O.

The single rule of the delivery guarantee: a partition's committable offset is the first offset
not yet settled (or one past the last tracked offset when all are settled). Records settle in any
order; the committable offset only moves forward, so a gap is never committed past.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

TopicPartition = tuple[str, int]


class OffsetOrderError(ValueError):
    """A partition's records must be tracked in increasing offset order."""


@dataclass(frozen=True, slots=True)
class Commit:
    topic: str
    partition: int
    offset: int  # the next offset to read: Kafka's commit convention


class PartitionOffsets:
    """Tracked and settled offsets of one assigned partition (one per assignment)."""

    __slots__ = ("_last_tracked", "_order", "_unsettled", "committed", "partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self._order: deque[int] = deque()  # tracked offsets from the first unsettled one on
        self._unsettled: set[int] = set()
        self._last_tracked: int | None = None
        self.committed: int | None = None  # the last offset handed out for commit

    def track(self, offset: int) -> None:
        if self._last_tracked is not None and offset <= self._last_tracked:
            raise OffsetOrderError(
                f"{self.topic}[{self.partition}]: offset {offset} after {self._last_tracked}"
            )
        self._last_tracked = offset
        self._order.append(offset)
        self._unsettled.add(offset)

    def settle(self, offset: int) -> None:
        """Mark a tracked offset settled. Unknown or repeated offsets are ignored."""
        unsettled = self._unsettled
        if offset not in unsettled:
            return
        unsettled.remove(offset)
        self._advance()

    def settle_many(self, offsets: Iterable[int]) -> None:
        """`settle` for many offsets at once (a batch of results): the front moves once."""
        self._unsettled.difference_update(offsets)
        self._advance()

    def _advance(self) -> None:
        order, unsettled = self._order, self._unsettled
        while order and order[0] not in unsettled:
            order.popleft()

    @property
    def unsettled(self) -> int:
        return len(self._unsettled)

    def committable(self) -> int | None:
        """The offset to commit now, or None when nothing was tracked yet."""
        if self._order:
            return self._order[0]
        if self._last_tracked is None:
            return None
        return self._last_tracked + 1

    def next_commit(self) -> Commit | None:
        """A commit that moves this partition forward, or None when there is nothing new."""
        offset = self.committable()
        if offset is None or (self.committed is not None and offset <= self.committed):
            return None
        return Commit(self.topic, self.partition, offset)

    def mark_committed(self, offset: int) -> None:
        if self.committed is None or offset > self.committed:
            self.committed = offset


class OffsetBook:
    """The partitions this consumer owns now, each with its own PartitionOffsets."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}

    def assign(self, topic: str, partition: int) -> PartitionOffsets:
        offsets = PartitionOffsets(topic, partition)
        self._partitions[(topic, partition)] = offsets
        return offsets

    def revoke(self, topic: str, partition: int) -> PartitionOffsets | None:
        return self._partitions.pop((topic, partition), None)

    def get(self, topic: str, partition: int) -> PartitionOffsets | None:
        return self._partitions.get((topic, partition))

    def __iter__(self) -> Iterator[PartitionOffsets]:
        return iter(list(self._partitions.values()))

    def __len__(self) -> int:
        return len(self._partitions)

    @property
    def unsettled(self) -> int:
        return sum(p.unsettled for p in self._partitions.values())
