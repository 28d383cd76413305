"""The pipeline's hard cases over in-memory parts: what it commits, and the results it writes.

The real decode and transform run in the Kafka thread (`prepare_processes=0`); the source, the
result store and the Spotify sink are the doubles of tests.support.pipeline_doubles.py. The same
cases against the real broker are in tests/integration/test_pipeline*.py.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque

import pytest

from connector.config import PipelineSettings, Settings
from connector.kafka.results import ResultWriteError
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates
from connector.offsets import Commit
from connector.pipeline import Pipeline
from connector.prepare.choice import choose
from tests.support.pipeline_doubles import (
    EVENT_TIME_MS,
    RECEIVED_AT_MS,
    TOPIC,
    Assign,
    Do,
    Lose,
    MemoryResults,
    MemorySink,
    Records,
    Revoke,
    ScriptedSource,
    Step,
    Until,
    event_id,
    record,
)

# Commits come only from rebalances and the stop, unless a test asks for the periodic or the
# caught-up one.
QUIET = PipelineSettings(
    commit_interval_s=3600,
    commit_when_caught_up=False,
    revoke_timeout_s=0.2,
    drain_timeout_s=0.5,
    prepare_processes=0,
)


class Harness:
    def __init__(self, *script: Step, pipeline: PipelineSettings = QUIET) -> None:
        self.stop = threading.Event()
        self.source = ScriptedSource(deque(script), self.stop)
        self.results = MemoryResults()
        self.sink = MemorySink()
        settings = Settings(pipeline=pipeline)
        self.pipeline = Pipeline(
            settings,
            source=self.source,
            writer=self.results,
            sink_factory=self.sink.factory,
            prepare=choose(settings),
        )

    def run(self) -> None:
        self.pipeline.run(self.stop)


def delivered(partition: int, offset: int) -> DeliveryResult:
    return DeliveryResult(
        coordinates=SourceCoordinates(TOPIC, partition, offset, None),
        status=DeliveryStatus.DELIVERED,
        received_at_ms=RECEIVED_AT_MS,
        settled_at_ms=RECEIVED_AT_MS + 50,
        event_id=event_id(partition, offset),
        event_name="PURCHASE",
        event_time_ms=EVENT_TIME_MS,
        http_status=200,
        attempts=1,
        sp_trace_id="trace-1",
        connection="default",
        identifiers=("email", "phone", "ip", "device_id", "click_id"),  # the sample event's
        email_count=1,
    )


def test_a_clean_run_delivers_every_record_and_commits_past_the_last() -> None:
    h = Harness(
        Assign([(TOPIC, 0)]),
        Records([record(0, offset) for offset in range(3)]),
        Until(lambda: len(h.results.stored) == 3, "three results"),
    )
    h.run()
    assert [r for r, _ in h.results.stored] == [delivered(0, o) for o in range(3)]
    assert h.source.acknowledged == [Commit(TOPIC, 0, 3)]
    assert h.pipeline.status.settled_by_status == {"DELIVERED": 3}


def test_revoke_mid_batch_commits_up_to_the_first_record_spotify_has_not_answered() -> None:
    h = Harness(
        Assign([(TOPIC, 0)]),
        Do(lambda: h.sink.held_ids.update({event_id(0, 3), event_id(0, 4)})),
        Records([record(0, offset) for offset in range(5)]),
        Until(lambda: len(h.results.stored) == 3 and h.sink.holding == 2, "3 answered, 2 held"),
        Revoke([(TOPIC, 0)]),
    )
    h.run()
    # The revoke waited revoke_timeout_s for offsets 3 and 4, then committed what was settled:
    # the next owner starts at 3 and sends those two again.
    assert h.source.acknowledged == [Commit(TOPIC, 0, 3)]
    assert [r for r, _ in h.results.stored] == [delivered(0, o) for o in range(3)]
    assert h.pipeline.checkpoint.positions() == {}  # nothing owned after the revoke


def test_a_revoke_whose_commit_fails_commits_nothing_and_the_next_owner_redelivers() -> None:
    h = Harness(
        Assign([(TOPIC, 0)]),
        Records([record(0, offset) for offset in range(2)]),
        Until(lambda: len(h.results.stored) == 2, "two results"),
        Do(lambda: setattr(h.source, "fail_commits", 1)),
        Revoke([(TOPIC, 0)]),
    )
    h.run()
    assert h.source.attempted == [[Commit(TOPIC, 0, 2)]]
    assert h.source.acknowledged == []
    assert (h.pipeline.status.commit_failures, h.pipeline.status.commits) == (1, 0)


def test_a_lost_partition_is_never_committed_while_the_others_are() -> None:
    h = Harness(
        Assign([(TOPIC, 0), (TOPIC, 1)]),
        Do(lambda: h.sink.held_ids.update({event_id(0, 0), event_id(0, 1)})),
        Records([record(0, 0), record(0, 1), record(1, 0), record(1, 1)]),
        Until(lambda: len(h.results.stored) == 2 and h.sink.holding == 2, "p1 answered"),
        Lose([(TOPIC, 0)]),
        Do(lambda: h.sink.release()),  # noqa: PLW0108 - p0 answered after the loss
        Until(lambda: len(h.results.stored) == 4, "p0's answers written"),
    )
    h.run()
    # No wait and no commit for a lost partition, even once its records settle: another
    # consumer owns it already.
    assert all(c.partition == 1 for batch in h.source.attempted for c in batch)
    assert h.source.acknowledged == [Commit(TOPIC, 1, 2)]
    assert [r for r, _ in h.results.stored][:2] == [delivered(1, 0), delivered(1, 1)]


def test_a_failed_commit_is_made_again_until_the_broker_acknowledges_it() -> None:
    h = Harness(
        Assign([(TOPIC, 0)]),
        Do(lambda: h.sink.held_ids.update({event_id(0, o) for o in range(3)})),
        Records([record(0, offset) for offset in range(3)]),
        Until(lambda: h.sink.holding == 3, "three held"),
        Do(lambda: h.sink.release()),  # noqa: PLW0108 - the three answers together
        Until(lambda: h.source.acknowledged != [], "a commit acknowledged"),
        pipeline=QUIET.model_copy(update={"commit_interval_s": 0.01}),
    )
    h.source.fail_commits = 2
    h.run()
    assert h.source.attempted == [[Commit(TOPIC, 0, 3)]] * 3  # two refused, the third taken
    assert h.source.acknowledged == [Commit(TOPIC, 0, 3)]
    assert [r for r, _ in h.results.stored] == [delivered(0, o) for o in range(3)]


def test_a_caught_up_pipeline_commits_at_once_and_never_past_what_is_unsettled() -> None:
    attempted_while_held: list[list[Commit]] = []
    turns = itertools.count()
    h = Harness(
        Assign([(TOPIC, 0)]),
        Do(lambda: h.sink.held_ids.update({event_id(0, 2)})),
        Records([record(0, offset) for offset in range(3)]),
        Until(lambda: h.sink.holding == 1 and len(h.results.stored) == 2, "two settled"),
        Do(lambda: time.sleep(0.3)),  # past the least gap between two caught-up commits
        Until(lambda: next(turns) == 3, "three more turns of the loop"),
        Do(lambda: attempted_while_held.extend(h.source.attempted)),
        Do(lambda: h.sink.release()),  # noqa: PLW0108
        # Fails after the step deadline unless the commit comes while the pipeline runs.
        Until(lambda: Commit(TOPIC, 0, 3) in h.source.acknowledged, "committed while running"),
        pipeline=QUIET.model_copy(update={"commit_when_caught_up": True}),
    )
    h.run()
    # Offset 2 held: no commit until it settles (and the interval is an hour away).
    assert attempted_while_held == []
    assert h.source.acknowledged == [Commit(TOPIC, 0, 3)]  # once, and nothing more at the stop
    assert h.results.by_offset() == {(0, o): ("DELIVERED", "spotify") for o in range(3)}


def test_failures_before_the_sink_are_results_with_their_stage_and_settle_alone() -> None:
    h = Harness(
        Assign([(TOPIC, 0)]),
        Records([record(0, 0, valid=False), record(0, 1)]),
        Until(lambda: len(h.results.stored) == 2, "two results"),
    )
    h.run()
    assert h.results.by_offset() == {
        (0, 0): ("UNDECODABLE", "decode"),
        (0, 1): ("DELIVERED", "spotify"),
    }
    assert h.sink.sent == [event_id(0, 1)]
    assert h.source.acknowledged == [Commit(TOPIC, 0, 2)]


def test_a_result_store_that_refuses_stops_the_run_and_commits_nothing() -> None:
    h = Harness(
        Assign([(TOPIC, 0)]),
        Do(lambda: setattr(h.results, "refuse", True)),
        Records([record(0, 0, valid=False)]),
        Until(lambda: False, "never: the refusal stops the run first"),
    )
    with pytest.raises(ResultWriteError):
        h.run()
    assert h.source.acknowledged == []
    assert h.source.closed
