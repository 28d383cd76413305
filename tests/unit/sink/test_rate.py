"""The request-rate cap's token bucket, with a fake clock."""

from __future__ import annotations

import pytest

from connector.sink.rate import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sends_within(bucket: TokenBucket, clock: FakeClock, seconds: float, step: float) -> list[float]:
    """Send whenever a token is there, asking every `step` seconds; the send times."""
    sent: list[float] = []
    end = clock.now + seconds
    while clock.now < end:
        if bucket.take() == 0.0:
            sent.append(clock.now)
        else:
            clock.now += step
    return sent


def test_a_full_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(20, clock)
    assert bucket.burst == 1.0  # a twentieth of 20 is below one request
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.05)  # none left: one comes in 1/20 s
    assert bucket.take() == pytest.approx(0.05)  # asking does not take or reserve one
    clock.now += 0.03
    assert bucket.take() == pytest.approx(0.02)
    clock.now += 0.02
    assert bucket.take() == 0.0


def test_no_second_holds_more_than_the_rate_plus_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(20, clock)
    clock.now += 5  # a quiet moment fills the bucket, to its burst only
    sent = sends_within(bucket, clock, 10.0, step=0.001)
    assert len(sent) == pytest.approx(201, abs=1)  # 20 a second, and the one of the burst
    for start in sent:  # every window of one second that begins at a send
        assert sum(1 for t in sent if start <= t < start + 1.0) <= 21


def test_a_high_rate_keeps_a_burst_of_a_twentieth_of_a_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, clock)
    assert bucket.burst == 50.0
    assert [bucket.take() for _ in range(50)] == [0.0] * 50
    assert bucket.take() == pytest.approx(0.001)
    clock.now += 10  # a long wait adds no more than the burst
    assert sum(1 for _ in range(200) if bucket.take() == 0.0) == 50


def test_a_late_caller_gets_the_tokens_that_came_meanwhile_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, clock)  # burst 5
    for _ in range(5):
        bucket.take()
    clock.now += 0.03  # three tokens' worth
    assert [bucket.take() for _ in range(4)][:3] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("rate", [0, -1.5])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="above 0"):
        TokenBucket(rate, FakeClock())
