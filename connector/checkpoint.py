"""Settlement and commits: which records are settled, and when their offsets are committed.

The rule is connector.offsets': a partition's committable offset is the first one not settled.
Here is when it is acted on: every `pipeline.commit_interval_s`, and, while everything read has
settled, at once (`pipeline.commit_when_caught_up`, at most every 0.1 s: a commit is "new" until
the broker acknowledges it); on a rebalance for the partitions taken away; and at the stop.
Results settle a batch at a time (`ResultBatch`): once every record written for it is durable.
While too much is unsettled (`pipeline.max_unsettled`) the partitions pause (`hold_back`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from connector.config import PipelineSettings
from connector.models import DeliveryResult, SourceRecord
from connector.offsets import Commit, OffsetBook, PartitionOffsets
from connector.ports import Partitions, PipelineStatus, RecordSource, ResultEntry, now_ms

log = logging.getLogger("connector.pipeline")  # the lines operators know, from where they were

# A caught-up pipeline commits at once, but not more often than this.
_CAUGHT_UP_COMMIT_GAP_S = 0.1


class ResultBatch:
    """Results written together, and the offsets they settle once all are durable."""

    __slots__ = ("entries", "offsets")

    def __init__(self) -> None:
        self.entries: list[ResultEntry] = []
        self.offsets: defaultdict[PartitionOffsets, list[int]] = defaultdict(list)

    def add(
        self, result: DeliveryResult, envelope: SourceRecord, stage: str, offsets: PartitionOffsets
    ) -> None:
        self.entries.append((result, envelope, stage))
        self.offsets[offsets].append(envelope.coordinates.offset)


class Checkpoint:
    """The offsets of the assigned partitions, and their commits to `source`."""

    def __init__(
        self,
        settings: PipelineSettings,
        source: RecordSource,
        status: PipelineStatus,
        on_results: Callable[[Sequence[DeliveryResult]], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.book = OffsetBook()
        self._settings = settings
        self._source = source
        self._status = status
        self._on_results = on_results  # each batch of settled records' results, once
        self._clock = clock
        self._last_commit = clock()
        self._holding_back = False

    def start(self) -> None:
        """The interval counts from here (the source has started)."""
        self._last_commit = self._clock()

    @property
    def unsettled(self) -> int:
        return self.book.unsettled

    def settled(self, batch: ResultBatch) -> None:
        """A batch's records are durable: they settle together (called by the result store)."""
        for offsets, settled in batch.offsets.items():
            offsets.settle_many(settled)
        results = [result for result, _, _ in batch.entries]
        for status, count in Counter(result.status for result in results).items():
            self._status.settled_by_status[status.value] += count
        self._status.last_progress_ms = now_ms()
        if self._on_results is not None:
            self._on_results(results)

    def hold_back(self, *, auth_failing: bool) -> None:
        """Pause every partition while too much is unsettled or every token is refused (one
        refused connection of several holds its own events only, up to the unsettled limit);
        resume below half the limit."""
        unsettled, limit = self.book.unsettled, self._settings.max_unsettled
        if unsettled >= limit:
            self._holding_back = True
        elif unsettled <= limit // 2:
            self._holding_back = False
        partitions = [(p.topic, p.partition) for p in self.book]
        if self._holding_back or auth_failing:
            if len(self._source.paused) < len(partitions):
                log.info("pausing partitions", extra={"unsettled": unsettled, "auth": auth_failing})
            self._source.pause(partitions)
        elif self._source.paused:
            log.info("resuming partitions", extra={"unsettled": unsettled})
            self._source.resume(partitions)

    def commit_if_due(self) -> None:
        """Commit when the interval has passed, or when caught up; refresh the lag then."""
        since = self._clock() - self._last_commit
        if since >= self._settings.commit_interval_s or (
            since >= _CAUGHT_UP_COMMIT_GAP_S and self._caught_up()
        ):
            self.commit(wait=False)
            self._refresh_lag()
            self._last_commit = self._clock()

    def _caught_up(self) -> bool:
        """Everything read has settled and some partition has a commit to make."""
        return (
            self._settings.commit_when_caught_up
            and self.book.unsettled == 0
            and any(p.next_commit() is not None for p in self.book)
        )

    def assign(self, partitions: Partitions) -> None:
        """Track these partitions too (incremental: those tracked already stay as they are)."""
        for topic, partition in partitions:
            if self.book.get(topic, partition) is None:
                self.book.assign(topic, partition)

    def revoke(self, partitions: Partitions) -> None:
        """Forget these partitions: what was not committed, the next owner reads again."""
        for topic, partition in partitions:
            self.book.revoke(topic, partition)

    def commit(self, *, wait: bool, partitions: Sequence[PartitionOffsets] | None = None) -> None:
        chosen = list(self.book) if partitions is None else partitions
        self._source.commit([c for p in chosen if (c := p.next_commit()) is not None], wait=wait)

    def committed(self, commits: list[Commit]) -> None:
        """The broker acknowledged these commits (inside poll or a blocking commit)."""
        self._status.commits += len(commits)
        for commit in commits:
            offsets = self.book.get(commit.topic, commit.partition)
            if offsets is not None:
                offsets.mark_committed(commit.offset)

    def commit_failed(self) -> None:
        """A commit was refused (say, during a rebalance): the next commit tries again."""
        self._status.commit_failures += 1

    def positions(self) -> dict[tuple[str, int], int]:
        """The committable offset of every assigned partition that has one."""
        return {
            (p.topic, p.partition): offset
            for p in self.book
            if (offset := p.committable()) is not None
        }

    def _refresh_lag(self) -> None:
        self._status.lag = self._source.lag(self.positions())
        if self._status.broker_down:
            self._status.broker_down = not self._source.reachable()
