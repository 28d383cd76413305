"""Decode → transform → JSON for a batch, in the calling thread and in prepare processes."""

from __future__ import annotations

import os
import pickle
import random
import signal
import time
from typing import TypeVar, cast

import orjson
import pytest

from connector.config import DecodeSettings, TransformSettings
from connector.errors import PrepareProcessLost
from connector.models import Accepted, Identifiers, Rejected, SourceCoordinates
from connector.prepare.decode import SchemalessDecoder
from connector.prepare.pool import PreparePool, _pack, _receive, _ship, _unpack
from connector.prepare.preparer import Prepared, Preparer, Ready, Record, Undecodable
from connector.schemas import avro
from connector.transform import Transformer
from tests.support.differential import odd_events, routing_settings, transform_settings
from tests.support.events import tracking_record

NOW_MS = 1_769_172_000_000  # 2026-01-23T12:53:20Z, after the sample events' time
SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)
T = TypeVar("T")


def _records(count: int, first: int = 0) -> list[Record]:
    """Valid purchases, with every 5th record not Avro and every 7th an unknown event name."""
    records: list[Record] = []
    for index in range(first, first + count):
        if index % 5 == 3:
            value: bytes | None = b"\x00\x01not avro at all"
        elif index % 7 == 4:
            value = avro.encode(SCHEMA, tracking_record(index, spotify_event_name="DANCE"))
        else:
            value = avro.encode(SCHEMA, tracking_record(index))
        records.append((value, SourceCoordinates("events", index % 3, index, NOW_MS - 1000)))
    return records


def test_each_record_becomes_ready_undecodable_or_rejected_in_order() -> None:
    preparer = Preparer(DecodeSettings(), TransformSettings())
    records = _records(12)
    prepared = preparer.prepare(records, NOW_MS)
    assert [type(p).__name__ for p in prepared] == [
        "Ready", "Ready", "Ready", "Undecodable", "Rejected", "Ready",
        "Ready", "Ready", "Undecodable", "Ready", "Ready", "Rejected",
    ]  # fmt: skip
    assert prepared[3] == Undecodable("invalid_avro", "not a tracking event: ValueError")
    rejected = prepared[4]
    assert isinstance(rejected, Rejected)
    assert rejected.rejection.reason == "invalid_event_name"
    assert rejected.event_id == "order-0000004"
    # What the sink sends is exactly the transform's event as JSON.
    value, coordinates = records[0]
    expected = Transformer(TransformSettings()).transform(
        SchemalessDecoder().decode(value), coordinates, NOW_MS
    )
    assert isinstance(expected, Accepted)
    assert prepared[0] == Ready(
        event_id="order-0000000",
        event_name="PURCHASE",
        event_time_ms=expected.event_time_ms,
        payload=orjson.dumps(expected.event.to_wire()),
        warnings=(),
        identifiers=expected.identifiers,
    )
    assert expected.identifiers.carried == ("email", "phone", "ip", "device_id", "click_id")
    assert orjson.loads(prepared[0].payload)["event_id"] == "order-0000000"


def test_the_pool_returns_what_the_thread_would_batch_by_batch_in_order() -> None:
    in_thread = Preparer(DecodeSettings(), TransformSettings())
    batches = [_records(40, first) for first in range(0, 240, 40)]
    pool = PreparePool(DecodeSettings(), TransformSettings(), processes=2)
    try:
        handed = [pool.submit(batch, NOW_MS) for batch in batches]  # all before any is taken
        got = [handle.result() for handle in handed]
    finally:
        pool.close()
    assert got == [in_thread.prepare(batch, NOW_MS) for batch in batches]
    assert sum(isinstance(p, Ready) for batch in got for p in batch) == 240 - 48 - 27


def test_the_pool_hands_back_warnings_dropped_identifiers_and_skips_unchanged() -> None:
    """Readies cross as plain tuples (pool._pack): every field must come back as it was."""
    rng = random.Random(5)
    records: list[Record] = [
        (avro.encode(SCHEMA, event), SourceCoordinates("events", 0, offset, NOW_MS - 1000))
        for offset, event in enumerate(odd_events(rng, 400))
    ]
    in_thread = Preparer(DecodeSettings(), transform_settings(), routing_settings())
    pool = PreparePool(DecodeSettings(), transform_settings(), 1, routing_settings())
    try:
        got = pool.submit(records, NOW_MS).result()
    finally:
        pool.close()
    expected = in_thread.prepare(records, NOW_MS)
    assert got == expected
    assert [type(p) for p in got] == [type(p) for p in expected]
    readies = [p for p in got if isinstance(p, Ready)]
    assert all(type(r.identifiers) is Identifiers for r in readies)
    kinds = {type(p).__name__ for p in got}
    assert kinds == {"Ready", "Rejected", "Skipped"}, kinds
    assert any(r.warnings for r in readies), "no Ready with warnings: the test lost its point"
    assert any(r.identifiers.dropped for r in readies)


@pytest.mark.parametrize(
    "shape",
    ["", "R", "U", "UU", "URRU", "RUR", "RRRU", "URRR", "UURUU"],
)
def test_a_batch_crosses_to_a_worker_and_back_unchanged_in_order(shape: str) -> None:
    """_ship/_receive and _pack/_unpack through pickle, as the executor carries them: every
    record and outcome comes back equal and in its place, other outcomes first, last or between
    Readies (they travel apart from the Readies, by index)."""
    records = [
        (f"value {i}".encode(), SourceCoordinates("events", i % 3, 100 + i, None if i % 2 else i))
        for i in range(len(shape))
    ]
    received = _receive(_carried(_ship(records)))
    assert received == records
    assert all(type(coordinates) is SourceCoordinates for _, coordinates in received)
    kinds = (("email", "ip"), ("ip",), ())
    prepared: list[Prepared] = [
        Undecodable("invalid_avro", f"record {i}")
        if kind == "U"
        else Ready(
            f"id-{i}", "PURCHASE", 1_000 + i, b"{}", (), identifiers=Identifiers(kinds[i % 3])
        )
        for i, kind in enumerate(shape)
    ]
    back = _unpack(_carried(_pack(prepared)))
    assert back == prepared
    assert [type(p) for p in back] == [type(p) for p in prepared]
    assert all(type(p.identifiers) is Identifiers for p in back if isinstance(p, Ready))


def _carried(payload: T) -> T:
    """Through pickle, as the executor carries a call's arguments and its answer."""
    return cast(T, pickle.loads(pickle.dumps(payload)))  # noqa: S301 - made just now


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
        return {int(child) for child in children.read().split()}


def _keep_checking(pool: PreparePool) -> None:
    """The death shows once the process has exited: a moment after the signal."""
    for _ in range(200):
        pool.check()
        time.sleep(0.05)


def _keep_submitting(pool: PreparePool) -> None:
    """The executor notices a death on its own thread: a submit or two may still be taken."""
    for _ in range(100):
        pool.submit(_records(3), NOW_MS).result()
        time.sleep(0.1)


def test_a_killed_worker_is_a_clear_error_and_close_leaves_no_process() -> None:
    before = _children(os.getpid())
    pool = PreparePool(DecodeSettings(), TransformSettings(), processes=1)
    workers = _children(os.getpid()) - before
    assert workers, "the pool started no prepare process"
    try:
        first = pool.submit(_records(3), NOW_MS).result()[0]
        assert isinstance(first, Ready)
        assert first.event_id == "order-0000000"
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        with pytest.raises(PrepareProcessLost, match="a prepare process died"):
            _keep_submitting(pool)
    finally:
        pool.close()
    deadline = time.monotonic() + 10
    while _children(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children(os.getpid()) - before == set()


def test_a_worker_killed_while_idle_is_noticed_without_a_batch() -> None:
    """check() tells of a dead worker with nothing out (the pipeline asks every step), so a
    connector whose records were all prepared still stops instead of running on without it."""
    before = _children(os.getpid())
    pool = PreparePool(DecodeSettings(), TransformSettings(), processes=1)
    try:
        pool.submit(_records(3), NOW_MS).result()
        pool.check()  # alive: nothing to say
        for worker in _children(os.getpid()) - before:
            os.kill(worker, signal.SIGKILL)
        with pytest.raises(PrepareProcessLost, match="a prepare process died"):
            _keep_checking(pool)
    finally:
        pool.close()


@pytest.mark.timeout(120)
def test_batches_larger_than_the_pipes_all_in_flight_come_back_in_order() -> None:
    """Four batches larger than a pipe (64 KB) handed in before any answer is read, and asked
    for newest first: nothing waits on a full pipe for good, and each answer is its batch's."""
    batches = [_records(1500, first) for first in range(0, 6000, 1500)]
    assert sum(len(v or b"") for v, _ in batches[0]) > 4 * 65536
    in_thread = Preparer(DecodeSettings(), TransformSettings())
    pool = PreparePool(DecodeSettings(), TransformSettings(), processes=1)
    try:
        handed = [pool.submit(batch, NOW_MS) for batch in batches]
        got = [handle.result() for handle in reversed(handed)][::-1]  # newest asked for first
    finally:
        pool.close()
    assert got == [in_thread.prepare(batch, NOW_MS) for batch in batches]
    assert sum(len(r.payload) for r in got[0] if isinstance(r, Ready)) > 4 * 65536


def test_close_with_answers_never_read_leaves_no_process() -> None:
    before = _children(os.getpid())
    pool = PreparePool(DecodeSettings(), TransformSettings(), processes=2)
    assert len(_children(os.getpid()) - before) == 2
    for first in range(0, 12000, 1500):
        pool.submit(_records(1500, first), NOW_MS)  # none of them is read
    pool.close()
    assert _children(os.getpid()) - before == set()


def test_a_failure_inside_the_worker_is_raised_by_result_as_in_the_thread() -> None:
    """A bug the worker meets (here a value that is not bytes) must stop the run as it would
    in-thread, not hang it or pass for a lost worker."""
    odd: list[Record] = [(12345, SourceCoordinates("events", 0, 0, NOW_MS))]  # type: ignore[list-item]
    with pytest.raises(TypeError) as in_thread:
        Preparer(DecodeSettings(), TransformSettings()).prepare(odd, NOW_MS)
    pool = PreparePool(DecodeSettings(), TransformSettings(), processes=1)
    try:
        failing = pool.submit(odd, NOW_MS)
        with pytest.raises(TypeError) as in_worker:
            failing.result()
    finally:
        pool.close()
    assert str(in_worker.value) == str(in_thread.value)
    assert "'int'" in str(in_thread.value)  # the native path's argument check names the type
