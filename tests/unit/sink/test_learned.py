"""Learned refusals without a server: the book with a fake clock, and what it does to items."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connector.sink import SinkItem
from connector.sink import learned as learned_module
from connector.sink.encoding import BodyEncoder
from connector.sink.heal import CONTRACT_PATHS, without
from connector.sink.learned import LearnedRefusals, Outgoing, RefusalBook, StrippedField
from connector.sink.transport import Answer
from tests.unit.sink.conftest import RecordingObserver

CLICK = "user_data.clickID"
WINDOW_MS, TTL_MS = 60_000, 600_000
T0 = 1_790_000_000_000


def book() -> RefusalBook:
    return RefusalBook(after=3, window_ms=WINDOW_MS, ttl_ms=TTL_MS)


def test_three_different_events_within_the_window_make_a_field_learned() -> None:
    refusals = book()
    assert not refusals.refused(CLICK, ["a"], T0)
    assert not refusals.refused(CLICK, ["a", "b"], T0 + 1000)  # `a` again counts once
    assert not refusals.active
    assert refusals.refused(CLICK, ["c"], T0 + 2000)
    assert refusals.active
    assert refusals.stripped() == [(CLICK, T0 + 2000)]
    assert refusals.until_ms(CLICK) == T0 + 2000 + TTL_MS
    assert not refusals.refused(CLICK, ["d", "e", "f"], T0 + 3000)  # learned already


def test_one_bad_event_refused_again_and_again_is_never_learned() -> None:
    # A batch bisected down to its one bad event names that event at every level.
    refusals = book()
    assert not any(refusals.refused(CLICK, ["bad"], T0 + n) for n in range(20))
    assert not refusals.active


def test_refusals_older_than_the_window_are_forgotten() -> None:
    refusals = book()
    refusals.refused(CLICK, ["a", "b"], T0)
    assert not refusals.refused(CLICK, ["c"], T0 + WINDOW_MS + 1)  # a and b are gone
    assert not refusals.refused(CLICK, ["d"], T0 + WINDOW_MS + 2)
    assert refusals.refused(CLICK, ["e"], T0 + WINDOW_MS + 3)
    assert refusals.stripped() == [(CLICK, T0 + WINDOW_MS + 3)]


def test_each_field_is_counted_on_its_own() -> None:
    refusals = book()
    refusals.refused(CLICK, ["a", "b"], T0)
    assert not refusals.refused("user_data.gender", ["c"], T0)
    assert not refusals.refused("user_data.gender", ["d"], T0)
    assert refusals.refused(CLICK, ["e"], T0)
    assert [path for path, _ in refusals.stripped()] == [CLICK]


@pytest.mark.parametrize(
    "path",
    [
        "event_id",
        "event_name",
        "event_time",
        "user_data",
        "event_details",
        "event_details.amount",
        "event_details.currency",
    ],
)
def test_a_field_spotify_requires_is_never_learned(path: str) -> None:
    refusals = book()
    assert not refusals.refused(path, [f"e{n}" for n in range(10)], T0)
    assert not refusals.active


def test_after_the_ttl_one_probe_goes_and_its_answer_decides() -> None:
    refusals = book()
    refusals.refused(CLICK, ["a", "b", "c"], T0)
    assert refusals.plan(T0 + TTL_MS - 1) == ([CLICK], [])
    assert refusals.plan(T0 + TTL_MS) == ([], [CLICK])  # due: the next batch carrying it probes
    refusals.probe_started(CLICK)
    assert refusals.plan(T0 + TTL_MS + 5) == ([CLICK], [])  # other batches go without it
    refusals.probe_refused(CLICK, T0 + TTL_MS + 10)
    assert refusals.until_ms(CLICK) == T0 + 2 * TTL_MS + 10
    assert refusals.plan(T0 + 2 * TTL_MS) == ([CLICK], [])
    assert refusals.stripped() == [(CLICK, T0)]  # still stripped since the first time
    refusals.probe_started(CLICK)
    refusals.probe_unanswered(CLICK)  # say, its batch was refused for another field
    assert refusals.plan(T0 + 2 * TTL_MS + 10) == ([], [CLICK])
    refusals.probe_started(CLICK)
    assert refusals.probe_accepted(CLICK) == T0
    assert not refusals.active
    assert refusals.plan(T0 + 3 * TTL_MS) == ([], [])


# --- what the sink's part does to items ----------------------------------------------------


def event(event_id: str, **user_data: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": "VIEW",
        "event_time": "2026-01-23T12:34:56.000Z",
        "user_data": {"ip_address": "203.0.113.12", **user_data},
    }


def item(wire: dict[str, Any]) -> SinkItem:
    return SinkItem(ref=wire["event_id"], event_id=wire["event_id"], payload=orjson.dumps(wire))


def learned_click_id() -> tuple[LearnedRefusals, RecordingObserver]:
    observer = RecordingObserver()
    refusals = LearnedRefusals("globex", book(), observer, window_s=60)
    answer = Answer(400, "", None, None, named_events=((0, CLICK), (1, CLICK), (2, CLICK)))
    refusals.refused([item(event(f"seen-{n}", clickID="x")) for n in range(3)], answer, (), T0)
    return refusals, observer


ENCODE = BodyEncoder("0b8e7a52-2f43-4c4e-9a51-5a1d3c0f6e11").encode


def sent(batch: Outgoing) -> list[dict[str, Any]]:
    """The events as the request body carries them."""
    events: list[dict[str, Any]] = orjson.loads(batch.body)["conversion_events"]["events"]
    return events


def test_a_learned_field_is_left_out_and_the_item_says_so() -> None:
    refusals, observer = learned_click_id()
    assert refusals.snapshot == (StrippedField("globex", CLICK, T0),)
    plain = item(event("plain"))
    clicked = item(event("clicked", clickID="spclid-1", gender="MALE"))
    batch = refusals.outgoing([plain, clicked], T0 + 1, ENCODE)
    assert batch.probe == ()
    assert batch.items == (plain, clicked)  # a text field is cut out of the body alone
    assert batch.cut == (CLICK,)
    assert sent(batch) == [event("plain"), event("clicked", gender="MALE")]
    assert [batch.went_without(i) for i in batch.items] == [(), (CLICK,)]
    refusals.went_without([(), (CLICK,)])
    assert observer.stripped == [(CLICK, 1)]
    again = refusals.outgoing(batch.items, T0 + 2, ENCODE)  # a batch built again: the same
    assert again == batch


def test_a_field_first_in_its_object_or_not_text_is_taken_out_of_the_item() -> None:
    refusals, _ = learned_click_id()
    first = SinkItem(
        "first", "first", b'{"event_id":"first","user_data":{"clickID":"c","ip_address":"1"}}'
    )
    number = SinkItem(
        "number", "number", b'{"event_id":"number","user_data":{"ip_address":"1","clickID":7}}'
    )
    last = item(event("last", clickID="c"))
    batch = refusals.outgoing([first, number, last], T0 + 1, ENCODE)
    assert batch.cut == ()  # the pass could not take every one: each item lost it instead
    assert [i.removed for i in batch.items] == [(CLICK,)] * 3
    assert [e["user_data"] for e in sent(batch)] == [{"ip_address": "1"}] * 2 + [
        {"ip_address": "203.0.113.12"}
    ]


def test_an_event_is_never_stripped_of_its_last_identifier() -> None:
    refusals = RefusalBook(after=1, window_ms=WINDOW_MS, ttl_ms=TTL_MS)
    learned = LearnedRefusals("default", refusals, RecordingObserver(), window_s=60)
    ip = "user_data.ip_address"
    learned.refused([item(event("a"))], Answer(400, "", None, None, named_fields=(ip,)), (), T0)
    only_ip = item(event("only-ip"))
    with_device = item(event("device", device_id="d-1"))
    batch = learned.outgoing([only_ip, with_device], T0 + 1, ENCODE)
    assert batch.items[0] is only_ip  # it goes as it is: healing or the dead letter decides
    assert batch.items[1].removed == (ip,)  # an identifier: parsed and written again
    assert [e["user_data"] for e in sent(batch)] == [
        {"ip_address": "203.0.113.12"},
        {"device_id": "d-1"},
    ]


def test_the_first_batch_carrying_a_due_field_probes_with_it() -> None:
    refusals, _ = learned_click_id()
    due = T0 + TTL_MS
    plain = [item(event("plain"))]
    assert refusals.outgoing(plain, due, ENCODE).probe == ()  # nothing carries it: no probe
    probe_batch = [item(event("p1", clickID="c1")), item(event("p2"))]
    batch = refusals.outgoing(probe_batch, due, ENCODE)
    assert batch.probe == (CLICK,)
    assert batch.cut == ()
    assert sent(batch)[0]["user_data"]["clickID"] == "c1"  # sent with the field
    other = refusals.outgoing([item(event("o1", clickID="c2"))], due, ENCODE)
    assert other.probe == ()  # one probe at a time
    assert other.cut == (CLICK,)
    refusals.probe_over(batch.probe, accepted=True)
    assert refusals.snapshot == ()
    after = refusals.outgoing([item(event("o2", clickID="c3"))], due + 1, ENCODE)
    assert after.cut == ()
    assert sent(after)[0]["user_data"]["clickID"] == "c3"


def test_a_refused_probe_renews_the_field_and_a_lone_event_counts_what_the_answer_names() -> None:
    refusals, _ = learned_click_id()
    due = T0 + TTL_MS
    lone = [item(event("p1", clickID="c1"))]
    probe = refusals.outgoing(lone, due, ENCODE).probe
    assert probe == (CLICK,)
    # A lone event's answer needs no index: what it names is that event's.
    refusals.refused(lone, Answer(400, "", None, None, named_fields=(CLICK,)), probe, due + 5)
    refusals.probe_over(probe, accepted=False)
    again = refusals.outgoing(lone, due + 6, ENCODE)
    assert again.probe == ()
    assert again.cut == (CLICK,)
    assert refusals.snapshot == (StrippedField("globex", CLICK, T0),)
    assert refusals.outgoing(lone, due + 5 + TTL_MS, ENCODE).probe == (CLICK,)


# --- the cut out of the bytes, against parsing and writing the JSON again -------------------


def sample_payloads() -> list[bytes]:
    from capi_devtools.samples import sample_events
    from connector.config import Settings
    from connector.models import SourceCoordinates
    from connector.prepare.preparer import Preparer, Ready
    from connector.schemas import avro

    settings = Settings()
    preparer = Preparer(settings.decode, settings.transform, settings.routing)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    records = []
    for index, record in enumerate(sample_events(64, seed=29)):
        record["properties"]["$spclid"] = f'spclid-"{index}"\\x'  # quotes and a backslash
        records.append((avro.encode(schema, record), SourceCoordinates("t", 0, index, None)))
    batch = preparer.submit(records, 1_767_225_700_000).result()
    return [ready.payload for ready in batch if isinstance(ready, Ready)]


def test_a_cut_is_the_same_event_as_parsing_removing_and_writing() -> None:
    payloads = sample_payloads()
    assert len(payloads) > 40
    cut_some = 0
    for payload in payloads:
        event = orjson.loads(payload)
        for path in sorted(CONTRACT_PATHS):
            cut = learned_module._cut(payload, path, learned_module._key(path))
            if cut is None:
                continue
            cut_some += 1
            assert orjson.loads(cut) == without(event, (path,)), path
    assert cut_some > 10 * len(payloads)  # most optional fields of most events


@pytest.mark.parametrize(
    ("payload", "path", "expected"),
    [
        (
            b'{"user_data":{"clickID":"a","gender":"MALE"}}',
            CLICK,
            b'{"user_data":{"gender":"MALE"}}',
        ),
        (
            b'{"user_data":{"gender":"MALE","clickID":"a"}}',
            CLICK,
            b'{"user_data":{"gender":"MALE"}}',
        ),
        (
            b'{"user_data":{"gender":"MALE","clickID":"a\\"b\\\\","age_group":"x"}}',
            CLICK,
            b'{"user_data":{"gender":"MALE","age_group":"x"}}',
        ),
        (b'{"user_data":{"clickID":"a"}}', CLICK, None),  # alone in its object: parsed
        (b'{"user_data":{"clickID":7,"gender":"F"}}', CLICK, None),  # not text: parsed
        (b'{"user_data":{"ip_address":"1","device_id":"d"}}', "user_data.ip_address", None),
        (
            b'{"event_id":"e","event_source_url":"https://x"}',
            "event_source_url",
            b'{"event_id":"e"}',
        ),
    ],
)
def test_a_cut_takes_the_field_and_one_comma(
    payload: bytes, path: str, expected: bytes | None
) -> None:
    assert learned_module._cut(payload, path, learned_module._key(path)) == expected
