"""retry.py, pure: classification, Retry-After parsing, full-jitter bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.sink.retry import (
    MAX_RETRY_AFTER_S,
    RetryPolicy,
    Verdict,
    backoff_ceiling,
    classify_status,
    full_jitter,
    parse_retry_after,
    retry_cause,
)

NOW = 1_790_000_000.0  # Mon, 21 Sep 2026 14:13:20 GMT


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (202, Verdict.DELIVERED),
        (400, Verdict.BISECT),
        (401, Verdict.AUTH),
        (403, Verdict.AUTH),
        (404, Verdict.REJECT),
        (408, Verdict.RETRY),
        (413, Verdict.SHRINK),
        (422, Verdict.REJECT),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (599, Verdict.RETRY),
        (302, Verdict.RETRY),
    ],
)
def test_classify_status(status: int, verdict: Verdict) -> None:
    assert classify_status(status) is verdict


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("  3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("86400", MAX_RETRY_AFTER_S),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after_seconds_and_garbage(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_parse_retry_after_http_date_future_past_and_capped() -> None:
    assert parse_retry_after("Mon, 21 Sep 2026 14:13:50 GMT", NOW) == 30.0
    assert parse_retry_after("Mon, 21 Sep 2026 14:13:50 GMT", NOW + 100) == 0.0
    assert parse_retry_after("Mon, 21 Sep 2026 14:13:50 -0000", NOW) == 30.0
    assert parse_retry_after("Tue, 22 Sep 2026 14:13:50 GMT", NOW) == MAX_RETRY_AFTER_S


def test_backoff_ceiling_doubles_from_initial_up_to_max() -> None:
    assert [backoff_ceiling(n, 0.2, 3.0) for n in range(1, 7)] == [0.2, 0.4, 0.8, 1.6, 3.0, 3.0]
    assert backoff_ceiling(10_000, 0.2, 30.0) == 30.0  # no overflow


@given(
    failures=st.integers(min_value=1, max_value=200),
    initial=st.floats(min_value=0.001, max_value=10),
    maximum=st.floats(min_value=0.001, max_value=600),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_full_jitter_stays_within_zero_and_the_ceiling(
    failures: int, initial: float, maximum: float, seed: int
) -> None:
    delay = full_jitter(failures, initial, maximum, random.Random(seed))
    assert 0.0 <= delay <= min(maximum, initial * 2.0 ** min(failures - 1, 60))


def test_full_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(1)
    delays = [full_jitter(4, 1.0, 100.0, rng) for _ in range(2000)]  # ceiling 8
    assert min(delays) < 0.1
    assert max(delays) > 7.9
    assert 3.6 < sum(delays) / len(delays) < 4.4  # uniform: mean is half the ceiling


def test_policy_honours_retry_after_only_on_429_and_503() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_initial_s=1.0, backoff_max_s=2.0)
    rng = random.Random(3)
    assert policy.delay(1, rng, status=429, retry_after="9") == 9.0
    assert policy.delay(1, rng, status=503, retry_after="9") == 9.0
    assert policy.delay(1, rng, status=500, retry_after="9") <= 1.0  # ignored: backoff
    assert policy.delay(2, rng, status=429, retry_after="junk") <= 2.0  # unusable: backoff
    assert policy.delay(3, rng, status=None) <= 2.0


def test_policy_exhausted_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_initial_s=1.0, backoff_max_s=2.0)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_retry_cause_labels() -> None:
    assert retry_cause(429) == "http_429"
    assert retry_cause(None, "timeout") == "timeout"
    assert retry_cause(None) == "connection"
