"""concurrency.py, pure: AIMD in-flight limit."""

from __future__ import annotations

import pytest

from connector.sink.concurrency import AdaptiveLimit


def test_starts_at_the_ceiling_and_halves_on_429_down_to_one() -> None:
    limit = AdaptiveLimit(8)
    seen = [limit.limit]
    for _ in range(5):
        assert limit.on_throttled(limit.generation)
        seen.append(limit.limit)
    assert seen == [8, 4, 2, 1, 1, 1]


def test_a_429_from_an_older_generation_does_not_halve_again() -> None:
    limit = AdaptiveLimit(16)
    sent_under = limit.generation  # four requests in flight together
    outcomes = [limit.on_throttled(sent_under) for _ in range(4)]
    assert outcomes == [True, False, False, False]
    assert limit.limit == 8


def test_grows_by_one_after_a_run_of_limit_successes_up_to_the_ceiling() -> None:
    limit = AdaptiveLimit(4)
    limit.on_throttled(limit.generation)
    limit.on_throttled(limit.generation)
    assert limit.limit == 1
    history = []
    for _ in range(12):
        limit.on_success()
        history.append(limit.limit)
    # 1 success at limit 1 → 2; 2 at 2 → 3; 3 at 3 → 4; then it stays at the ceiling.
    assert history == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]


def test_a_429_resets_the_run_of_successes() -> None:
    limit = AdaptiveLimit(8)
    limit.on_throttled(limit.generation)  # 4
    for _ in range(3):
        limit.on_success()
    limit.on_throttled(limit.generation)  # 2, run reset
    limit.on_success()
    assert limit.limit == 2
    limit.on_success()
    assert limit.limit == 3


def test_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        AdaptiveLimit(0)
