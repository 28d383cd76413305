"""What the per-record modules make of a fixed corpus, as JSON: the compiled build and the Python
sources must say exactly the same (tests/unit/test_compiled.py).

    SPOTIFY_CAPI_PURE_PYTHON=1 python -m tests.support.differential > pure.json

The corpus: the demo's sample events, the same with odd values put in (wrong types, huge and
negative numbers, NaN, unicode, empty and padded strings, None), the records' bytes damaged at
random, and events the Avro schema cannot hold (integers past 64 bits) given to the transform
directly. Deterministic: a fixed seed.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Iterator
from typing import Any

from capi_devtools.samples import sample_events
from connector.config import (
    ConsentSettings,
    DecodeSettings,
    RoutingSettings,
    TransformSettings,
)
from connector.errors import DecodeError
from connector.models import (
    PropertyValue,
    Rejected,
    Skipped,
    SourceCoordinates,
    SourceRecord,
    TrackingEvent,
)
from connector.prepare.decode import SchemalessDecoder
from connector.prepare.preparer import Prepared, Preparer, Ready, Undecodable
from connector.process import compiled as _compiled
from connector.results.delivery import failed_result, sent_result
from connector.schemas import avro
from connector.sink import SendOutcome, SendStatus, SinkItem
from connector.transform import Transformer

NOW_MS = 1_767_225_900_000  # five minutes after the samples' first event
SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)
SAMPLES = 2_000
ODD_VALUES: tuple[PropertyValue, ...] = (
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1_767_225_600,
    10**11 - 1,  # the epoch units' boundaries: seconds, ms, µs, ns; past 2^53
    10**14 - 1,
    10**17 - 1,
    10**17,
    2**53 + 1,
    "99999999999999999",
    1.7672256e12,
    1.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    "",
    "   ",
    "null",
    "N/A",
    "ünïcödé@exämple.com",
    "\uff26\uff35\uff2c\uff2c"  # fullwidth FULL,
    "e\u0301\u200b",
    "\U0001f600 +44 20 7946 0000",
    "+1 (415) 555-0123",
    "2026-01-01T00:00:00Z",
    "2026-13-45T99:99:99Z",
    "1767225600123",
    "PURCHASE",
    "purchase",
    "usd",
    "12.50",
    "-3",
    "a" * 3000,
    "203.0.113.9",
    "::1",
    "ff" * 32,
    "FF" * 32,
    [],
    ["a@example.com", "B@Example.com "],
    ["", "x"],
)
HUGE = (2**64, -(2**80), 10**30)  # past Avro's long: only the transform sees these


def transform_settings() -> TransformSettings:
    """A name mapping and a consent rule, so that their paths run too."""
    return TransformSettings(
        event_name_mapping={"Order Completed": "PURCHASE", "Lead": "LEAD"},
        consent=ConsentSettings(property="marketing_consent", on_missing="attribution_only"),
    )


# A consent rule by category, as OneTrust writes its groups, and values on either side of it.
GROUPS_PROPERTY = "onetrust_groups"
GROUPS_EDGES: tuple[PropertyValue, ...] = (
    "C0001,C0004",
    "c0004",
    " C0004 ",
    "C0004:1",
    "C0004:0",
    "C0004 : 0 ",
    "C0001",
    "",
    "  ",
    ["C0004"],
    ["C0001", "C0004:0"],
    [],
    ["", " c0004 "],
    "C0004,ünï",
    "ünï,C0004",
    "C0004\u00a0",  # Python strips it; the native path leaves text that is not ASCII to Python
    "C0004,C0004:0",
    "C0004:0,C0004",
    ",,C0004,,",
    "C0004:",
    ":C0004",
    "C00041",
    "C0004\x1f",
    True,
    1,
    4.0,
)
# Granted and denied groups, in the forms OneTrust and tag managers write them.
_GROUPS = (
    ("C0001,C0002,C0004", "C0001,C0002"),
    (["C0001", "C0004"], ["C0001"]),
    ("C0001:1,C0004:1", "C0001:1,C0004:0"),
    (" c0004 ", ""),
)


def with_groups(event: dict[str, Any]) -> dict[str, Any]:
    """The event with `onetrust_groups` granting C0004 where `marketing_consent` is true, denying
    it where false, and none where the consent is missing (unless it has its own already)."""
    properties = event["properties"]
    consent = properties.get("marketing_consent")
    if GROUPS_PROPERTY in properties or not isinstance(consent, bool):
        return event
    form = sum(map(ord, str(properties.get("$event_id", "")))) % len(_GROUPS)
    groups = _GROUPS[form][0 if consent else 1]
    return {**event, "properties": {**properties, GROUPS_PROPERTY: groups}}


# An allow-list without the phone and device id (also bench/inputs.py's).
ALLOWED_FIELDS = (
    "user_data.hashed_emails",
    "user_data.ip_address",
    "user_data.clickID",
    "user_data.user_agent",
    "event_details.content_category",
    "event_details.content_name",
    "action_source",
    "event_source_url",
)


def category_allow_list_settings() -> TransformSettings:
    """A consent rule by OneTrust category and an allow-list without the phone and device id."""
    return TransformSettings(
        event_name_mapping={"Order Completed": "PURCHASE"},
        consent=ConsentSettings(
            property=GROUPS_PROPERTY,
            category=" C0004 ",
            on_denied="drop",
            on_missing="attribution_only",
        ),
        allowed_fields=ALLOWED_FIELDS,
    )


def routing_settings() -> RoutingSettings:
    return RoutingSettings(
        by="property", property="spotify_event_name", routes={"PURCHASE": "shop"}, default="all"
    )


def odd_events(rng: random.Random, count: int) -> Iterator[dict[str, Any]]:
    """Sample events with one to four properties replaced by odd values, or dropped."""
    for record in sample_events(count, seed=11):
        properties = record["properties"]
        for name in rng.sample(sorted(properties), rng.randint(1, 4)):
            if rng.random() < 0.1:
                del properties[name]
            else:
                properties[name] = rng.choice(ODD_VALUES)
        if rng.random() < 0.1:
            record["timestamp"] = rng.choice((None, 0, -1, 2**62, NOW_MS + 10**9))
        if rng.random() < 0.05:
            record["event"] = rng.choice(("", " ", "Order Completed", "ünïcödé", "x" * 500))
        yield record


def damaged(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 3)):
        what = rng.random()
        if what < 0.4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif what < 0.7:
            del data[rng.randrange(len(data) + 1) :]
        else:
            position = rng.randrange(len(data) + 1)
            data[position:position] = rng.randbytes(rng.randint(1, 8))
    return bytes(data)


def records() -> list[bytes]:
    rng = random.Random(20)
    valid = [avro.encode(SCHEMA, r) for r in sample_events(SAMPLES, seed=7)]
    odd = [avro.encode(SCHEMA, r) for r in odd_events(rng, SAMPLES)]
    broken = [damaged(rng, rng.choice(odd)) for _ in range(SAMPLES // 2)]
    return [*valid, *odd, *broken, b"", b"\x00"]


def prepared_json(outcome: Prepared) -> Any:
    """Everything an outcome says, the payload's bytes as text: compared exactly."""
    if isinstance(outcome, Ready):
        return ["ready", outcome.payload.decode(), *outcome[:3], *outcome[4:]]
    if isinstance(outcome, Undecodable):
        return ["undecodable", outcome.reason, outcome.message]
    if isinstance(outcome, Rejected):
        rejection = outcome.rejection
        return [
            "rejected",
            [rejection.reason, rejection.field, rejection.message],
            outcome.event_id,
            outcome.event_name,
            [str(w) for w in outcome.warnings],
        ]
    assert isinstance(outcome, Skipped)
    return ["skipped", *outcome[:4], [str(w) for w in outcome.warnings]]


def prepared() -> list[Any]:
    """Decode, transform, route and serialise every record, as the pipeline does."""
    preparer = Preparer(DecodeSettings(), transform_settings(), routing_settings())
    batch = [
        (value, SourceCoordinates("events", 0, n, NOW_MS)) for n, value in enumerate(records())
    ]
    return [prepared_json(outcome) for outcome in preparer.prepare(batch, NOW_MS)]


ANSWERS = (
    (SendStatus.DELIVERED, 200, None, None, ()),
    (SendStatus.DELIVERED, 200, None, None, ("user_data.clickID", "user_data.hashed_emails")),
    (SendStatus.REJECTED, 400, "spotify_400", '{"messages":["invalid"]}', ()),
    (SendStatus.RETRY_EXHAUSTED, 503, "retry_exhausted", "503 Service Unavailable", ()),
)


def results() -> list[Any]:
    """The DeliveryResult of every record (connector.results.delivery): a failure's as the pipeline
    writes it, a Ready's for one of the answers Spotify gives, healed ones among them."""
    preparer = Preparer(DecodeSettings(), transform_settings(), routing_settings())
    envelopes = [
        SourceRecord(SourceCoordinates("events", 0, n, NOW_MS), b"k", value, (), NOW_MS + 5)
        for n, value in enumerate(records())
    ]
    outcomes = preparer.prepare([(e.value, e.coordinates) for e in envelopes], NOW_MS)
    found: list[Any] = []
    for n, (envelope, outcome) in enumerate(zip(envelopes, outcomes, strict=True)):
        if isinstance(outcome, Ready):
            status, http_status, code, message, removed = ANSWERS[n % len(ANSWERS)]
            item = SinkItem(None, outcome.event_id, outcome.payload, outcome.connection)
            answer = SendOutcome(item, status, http_status, code, message, 2, "t", NOW_MS, removed)
            found.append([list(sent_result(envelope.coordinates, envelope, outcome, answer))])
        else:
            result, stage = failed_result(envelope.coordinates, envelope, outcome, NOW_MS + 9)
            found.append([list(result), stage])
    return found


def decoded() -> list[Any]:
    """The decoded events themselves (NaN as text: NaN is not equal to itself)."""
    decoder = SchemalessDecoder()
    found: list[Any] = []
    for value in records():
        try:
            found.append(repr(tuple(decoder.decode(value))))
        except DecodeError as exc:
            found.append([exc.reason, exc.message])
    return found


def transformed_directly() -> list[Any]:
    """Events the decoder cannot produce (integers past 64 bits), straight to the transform."""
    rng = random.Random(21)
    transformer = Transformer(transform_settings())
    found: list[Any] = []
    for n, record in enumerate(odd_events(rng, SAMPLES // 4)):
        properties = record["properties"]
        for name in rng.sample(sorted(properties), min(2, len(properties))):
            properties[name] = rng.choice(HUGE)
        event = TrackingEvent(record["event"], properties, record["timestamp"])
        outcome = transformer.transform(event, SourceCoordinates("events", 0, n), NOW_MS)
        found.append(repr(outcome))
    malformed = (  # not the declared types at all: the transform still refuses them with reasons
        TrackingEvent(None, {"$device_id": "d"}),  # type: ignore[arg-type]
        TrackingEvent("View", None),  # type: ignore[arg-type]
        TrackingEvent("View", {"$device_id": "d"}, "x"),  # type: ignore[arg-type]
        TrackingEvent(7, {"$device_id": "d"}, 2.5),  # type: ignore[arg-type]
    )
    coordinates = SourceCoordinates("e", 0, 0)
    found.extend(repr(transformer.transform(e, coordinates, NOW_MS)) for e in malformed)
    return found


def everything() -> dict[str, Any]:
    return {
        "compiled": _compiled.compiled(),
        "prepared": prepared(),
        "decoded": decoded(),
        "results": results(),
        "transformed": transformed_directly(),
    }


if __name__ == "__main__":
    json.dump(everything(), sys.stdout)
