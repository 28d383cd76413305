"""The Checkpoint: records settle a batch at a time, offsets are committed when due (the interval,
or at once while caught up), and the broker's answers are counted. A fake clock and a recording
source: no broker, no waiting."""

from __future__ import annotations

from collections.abc import Sequence

from connector.checkpoint import Checkpoint, ResultBatch
from connector.config import PipelineSettings
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates, SourceRecord
from connector.offsets import Commit
from connector.ports import PipelineStatus, SourceEvents

TOPIC = "events"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CommitsRecorded:
    """The part of a record source the checkpoint uses, recording its commits."""

    def __init__(self) -> None:
        self.commits: list[tuple[list[Commit], bool]] = []
        self.lag_asked: list[dict[tuple[str, int], int]] = []
        self.up = True

    def start(self, events: SourceEvents) -> None:
        raise AssertionError("not the checkpoint's to call")

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        raise AssertionError("not the checkpoint's to call")

    def pause(self, partitions: Sequence[tuple[str, int]]) -> None:
        raise AssertionError("not the checkpoint's to call")

    def resume(self, partitions: Sequence[tuple[str, int]]) -> None:
        raise AssertionError("not the checkpoint's to call")

    @property
    def paused(self) -> frozenset[tuple[str, int]]:
        return frozenset()

    def commit(self, commits: Sequence[Commit], *, wait: bool) -> None:
        self.commits.append((list(commits), wait))

    def lag(self, positions: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        self.lag_asked.append(positions)
        return {tp: 1000 - offset for tp, offset in positions.items()}

    def reachable(self) -> bool:
        return self.up

    def close(self) -> None:
        raise AssertionError("not the checkpoint's to call")


def checkpoint(
    **settings: object,
) -> tuple[Checkpoint, CommitsRecorded, PipelineStatus, Clock, list[list[DeliveryResult]]]:
    source, status, clock = CommitsRecorded(), PipelineStatus(), Clock()
    seen: list[list[DeliveryResult]] = []
    made = Checkpoint(
        PipelineSettings(**settings),  # type: ignore[arg-type]
        source,
        status,
        lambda results: seen.append(list(results)),
        clock=clock,
    )
    return made, source, status, clock, seen


def delivered(partition: int, offset: int) -> tuple[DeliveryResult, SourceRecord]:
    coordinates = SourceCoordinates(TOPIC, partition, offset, None)
    result = DeliveryResult(
        coordinates=coordinates,
        status=DeliveryStatus.DELIVERED,
        received_at_ms=1,
        settled_at_ms=2,
    )
    return result, SourceRecord(coordinates, None, b"")


def test_a_batch_settles_together_and_is_counted_once() -> None:
    cp, _, status, _, seen = checkpoint()
    cp.assign([(TOPIC, 0)])
    offsets = cp.book.get(TOPIC, 0)
    assert offsets is not None
    batch = ResultBatch()
    for offset in range(3):
        offsets.track(offset)
        batch.add(*delivered(0, offset), "spotify", offsets)
    assert cp.unsettled == 3
    cp.settled(batch)
    assert cp.unsettled == 0
    assert status.settled_by_status == {"DELIVERED": 3}
    assert [[r.coordinates.offset for r in results] for results in seen] == [[0, 1, 2]]
    assert cp.positions() == {(TOPIC, 0): 3}


def test_the_interval_commits_and_refreshes_the_lag() -> None:
    cp, source, status, clock, _ = checkpoint(commit_interval_s=1.0, commit_when_caught_up=False)
    cp.assign([(TOPIC, 0), (TOPIC, 1)])
    for partition in (0, 1):
        offsets = cp.book.get(TOPIC, partition)
        assert offsets is not None
        offsets.track(5)
        offsets.settle(5)
    cp.start()
    clock.now += 0.99
    cp.commit_if_due()
    assert source.commits == []
    clock.now += 0.01
    cp.commit_if_due()
    assert source.commits == [([Commit(TOPIC, 0, 6), Commit(TOPIC, 1, 6)], False)]
    assert status.lag == {(TOPIC, 0): 994, (TOPIC, 1): 994}
    cp.commit_if_due()  # the interval starts again
    assert len(source.commits) == 1


def test_a_caught_up_checkpoint_commits_at_once_but_not_more_than_every_tenth() -> None:
    cp, source, _, clock, _ = checkpoint(commit_interval_s=3600)
    cp.assign([(TOPIC, 0)])
    offsets = cp.book.get(TOPIC, 0)
    assert offsets is not None
    offsets.track(0)
    cp.start()
    clock.now += 0.5
    cp.commit_if_due()
    assert source.commits == []  # a record is not settled: not caught up
    offsets.settle(0)
    clock.now += 0.05
    cp.commit_if_due()
    assert source.commits == [([Commit(TOPIC, 0, 1)], False)]
    cp.committed([Commit(TOPIC, 0, 1)])
    offsets.track(1)
    offsets.settle(1)
    clock.now += 0.05
    cp.commit_if_due()
    assert len(source.commits) == 1  # within 0.1 s of the last commit
    clock.now += 0.06
    cp.commit_if_due()
    assert source.commits[-1] == ([Commit(TOPIC, 0, 2)], False)


def test_nothing_to_commit_is_not_caught_up() -> None:
    cp, source, _, clock, _ = checkpoint(commit_interval_s=3600)
    cp.assign([(TOPIC, 0)])
    cp.start()
    clock.now += 1
    cp.commit_if_due()
    assert source.commits == []


def test_answers_are_counted_and_a_commit_acknowledged_is_not_made_again() -> None:
    cp, source, status, _, _ = checkpoint()
    cp.assign([(TOPIC, 0)])
    offsets = cp.book.get(TOPIC, 0)
    assert offsets is not None
    offsets.track(7)
    offsets.settle(7)
    cp.commit(wait=True)
    cp.committed([Commit(TOPIC, 0, 8), Commit(TOPIC, 9, 1)])  # one of a partition not owned
    cp.commit_failed()
    assert (status.commits, status.commit_failures) == (2, 1)
    cp.commit(wait=True)
    assert source.commits == [([Commit(TOPIC, 0, 8)], True), ([], True)]


def test_assignment_is_incremental_and_a_revoke_forgets() -> None:
    cp, _, _, _, _ = checkpoint()
    cp.assign([(TOPIC, 0)])
    first = cp.book.get(TOPIC, 0)
    assert first is not None
    first.track(3)
    cp.assign([(TOPIC, 0), (TOPIC, 1)])
    assert cp.book.get(TOPIC, 0) is first  # what it tracks stays
    assert cp.unsettled == 1
    cp.revoke([(TOPIC, 0)])
    assert cp.book.get(TOPIC, 0) is None
    assert [(p.topic, p.partition) for p in cp.book] == [(TOPIC, 1)]


def test_a_broker_back_is_seen_at_the_lag_refresh() -> None:
    cp, source, status, clock, _ = checkpoint(commit_interval_s=1.0, commit_when_caught_up=False)
    status.broker_down = True
    source.up = False
    cp.start()
    clock.now += 1
    cp.commit_if_due()
    assert status.broker_down
    source.up = True
    clock.now += 1
    cp.commit_if_due()
    assert not status.broker_down
