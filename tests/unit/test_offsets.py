"""The offset tracker never commits past an unsettled record, whatever the settle order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.offsets import Commit, OffsetBook, OffsetOrderError, PartitionOffsets


@st.composite
def offsets_and_settle_order(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    # Increasing offsets with gaps (compaction, transaction markers), settled in random order.
    gaps = draw(st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=60))
    start = draw(st.integers(min_value=0, max_value=10_000))
    offsets = [start + sum(gaps[: i + 1]) for i in range(len(gaps))]
    order = draw(st.permutations(offsets))
    settled_subset = draw(st.integers(min_value=0, max_value=len(order)))
    return offsets, list(order[:settled_subset])


@given(offsets_and_settle_order())
def test_committable_is_first_unsettled_offset(case: tuple[list[int], list[int]]) -> None:
    offsets, settle_order = case
    tracker = PartitionOffsets("t", 0)
    for offset in offsets:
        tracker.track(offset)
    settled: set[int] = set()
    previous = tracker.committable()
    assert previous == offsets[0]
    for offset in settle_order:
        tracker.settle(offset)
        settled.add(offset)
        unsettled = [o for o in offsets if o not in settled]
        expected = unsettled[0] if unsettled else offsets[-1] + 1
        current = tracker.committable()
        assert current == expected
        assert previous is not None
        assert current is not None
        assert current >= previous  # never backwards
        assert all(o >= current for o in unsettled)  # never past an unsettled record
        assert tracker.unsettled == len(unsettled)
        previous = current


def test_settling_unknown_and_repeated_offsets_changes_nothing() -> None:
    tracker = PartitionOffsets("t", 0)
    for offset in (5, 6, 7):
        tracker.track(offset)
    tracker.settle(4)
    tracker.settle(99)
    assert tracker.committable() == 5
    tracker.settle(6)
    tracker.settle(6)
    assert tracker.unsettled == 2
    tracker.settle(5)
    assert tracker.committable() == 7
    tracker.settle(5)
    assert tracker.committable() == 7


def test_offsets_must_increase() -> None:
    tracker = PartitionOffsets("t", 3)
    tracker.track(10)
    with pytest.raises(OffsetOrderError, match=r"t\[3\]: offset 10 after 10"):
        tracker.track(10)


def test_next_commit_only_moves_forward() -> None:
    tracker = PartitionOffsets("t", 1)
    assert tracker.next_commit() is None
    tracker.track(0)
    tracker.track(1)
    assert tracker.next_commit() == Commit("t", 1, 0)
    tracker.mark_committed(0)
    assert tracker.next_commit() is None
    tracker.settle(0)
    assert tracker.next_commit() == Commit("t", 1, 1)
    tracker.settle(1)
    assert tracker.next_commit() == Commit("t", 1, 2)
    tracker.mark_committed(2)
    tracker.mark_committed(1)  # a late, lower mark is ignored
    assert tracker.committed == 2


def test_book_counts_unsettled_across_partitions_and_forgets_revoked() -> None:
    book = OffsetBook()
    a = book.assign("t", 0)
    b = book.assign("t", 1)
    for offset in range(3):
        a.track(offset)
        b.track(offset + 100)
    a.settle(0)
    assert book.unsettled == 5
    assert [p.next_commit() for p in book] == [Commit("t", 0, 1), Commit("t", 1, 100)]
    assert book.revoke("t", 1) is b
    assert book.revoke("t", 1) is None
    assert book.unsettled == 2
    assert [p.partition for p in book] == [0]


@given(offsets_and_settle_order(), st.integers(min_value=1, max_value=10))
def test_settling_many_at_once_is_settling_each(
    case: tuple[list[int], list[int]], batch_size: int
) -> None:
    offsets, settle_order = case
    one_by_one, in_batches = PartitionOffsets("t", 0), PartitionOffsets("t", 0)
    for offset in offsets:
        one_by_one.track(offset)
        in_batches.track(offset)
    for start in range(0, len(settle_order), batch_size):
        batch = settle_order[start : start + batch_size]
        for offset in batch:
            one_by_one.settle(offset)
        in_batches.settle_many([*batch, offsets[-1] + 5])  # an unknown offset is ignored
        assert in_batches.committable() == one_by_one.committable()
        assert in_batches.unsettled == one_by_one.unsettled
