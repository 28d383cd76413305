"""The native prepare path (native/, connector/prepare/native.py) against the Python path.

Every record either gets from the native path exactly the Ready the Python path makes (the same
payload bytes, event id, name, time, identifiers, no warnings) or is declined and prepared by
Python. The corpus is the compiled build's (tests/support/differential.py: samples, odd values,
damaged bytes) plus values chosen to sit on either side of each native rule, under several
settings (a boolean consent rule, one by category, allow-lists). The tests also hold the native
path to taking the common events: one that declined everything would pass the comparisons.
Writer schemas other than the bundled one: tests/unit/test_native_schemas.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capi_devtools.samples import DEMO_EVENT_NAME_MAPPING, sample_events, typical_events
from connector.config import (
    ConsentSettings,
    DecodeSettings,
    RoutingSettings,
    TextLimits,
    TransformSettings,
)
from connector.models import SourceCoordinates
from connector.prepare import native as native_prepare
from connector.prepare.preparer import Preparer, Ready
from connector.process import compiled as _compiled
from connector.schemas import avro
from connector.transform import mapping as m
from tests.support import differential

SCHEMA = avro.bundled_schema(avro.TRACKING_EVENT)
NOW_MS = differential.NOW_MS
START_MS = 1_767_225_600_000  # the samples' first event

# Values on either side of the native rules, put into sample events one property at a time.
EDGES: dict[str, tuple[Any, ...]] = {
    "marketing_consent": (True, False, None, "true", 1, "granted", ["a"]),
    "onetrust_groups": differential.GROUPS_EDGES,
    "brand": ("globex", " globex ", "acme", True, False, 7, 7.0, "", None, ["globex"]),
    "$event_id": (" e-1 ", "\u3000e-2\u2028", "\x1ce-3\x1f", "", " ", "x" * 256, "x" * 257, 7),
    "spotify_event_name": ("VIEW", "view", " VIEW", "Add to cart", "NOPE", "", None, 3),
    "$event_time": (
        START_MS,
        10**11,
        10**11 - 1,
        10**14 - 1,
        10**14,
        NOW_MS,
        NOW_MS + 1,
        NOW_MS + 10**6,
        946_684_799_999,
        946_684_800_000,
        1_767_225_600,
        1.7672256e12,
        "2026-01-01T00:00:00Z",
        "  ",
        True,
    ),
    "email": (
        "A.B@Example.COM",
        " a@b.c\u00a0",
        "a@b.c\x1c",
        "ünï@example.com",
        "a@b@c",
        "@b.c",
        "a@",
        "a b@c.d",
        "a@b.c, d@e.f",
        "John <j@x.com>",
        "mailto:j@x.com",
        "a\\b@c.d",
        "x" * 250 + "@b.c",
        "x" * 249 + "@b.c",
        "ff" * 32,
        "undefined",
        ["a@b.c"],
        5,
    ),
    "phone": (
        "+1 (415) 555-0123",
        "+14155550123",
        "+1 415.555.0123",
        "+1\t415\u00a0555 0123",
        "+44 20 7946 0000",
        "+49 30 12340000",
        "+33 1 42 68 0000",
        "+1 123 456 7890",
        "+0 415 555 0123",
        "+1415555012",
        "+123456789012345678",
        "(415) 555-0123",
        "4155550123",
        "0044 20 7946 0000",
        "+1 415 555 0123 ext 5",
        "+\uff11 415 555 0123",  # a fullwidth digit one
        "ff" * 32,
        "0",
        "",
        ["+14155550123"],
        14155550123,
    ),
    "$ip": (
        "203.0.113.9",
        " 203.0.113.9 ",
        "203.0.113.09",
        "203.0.113.256",
        "203.0.113",
        "203.0.113.9.1",
        "0.0.0.0",  # noqa: S104 - an IP value, not a bind address
        "::1",
        "2001:db8::1",
        "::",
        "1.2.3.4\u2028",
        "٣.1.1.1",
        "",
        5,
    ),
    "$device_id": (
        "device-00042",
        "123456789",
        "1234567890",
        "0000-0000-00",
        "00000000-0000-0000-0000-000000000000",
        "undefined",
        "x" * 256,
        "x" * 257,
        12345678901,
    ),
    "$user_agent": ("Mozilla/5.0", " ", "é" * 1024, "é" * 1025, "a\x00b", "\ud7ff", 3),
    "$spclid": ("spclid-1", "", " x ", "x" * 512, "x" * 513),
    "gender": (
        "M",
        "female",
        " Man ",
        "WOMAN",
        "x",
        "",
        "\ufb00",
        "\u212a",
        1,
    ),  # a ligature, Kelvin
    "$action_source": ("WEB", "web", " app ", "OFFLINE", "store", "", "\ufb00", 1),
    "opt_out_targeting": (True, False, "true", 0, 1, None, "no"),
    "event_source_url": (
        "https://shop.example/p/1",
        "HTTPS://shop.example/p/1",
        "Http://shop.example",
        "ftp://shop.example",
        "https:///p",
        "https://?q",
        "https://shop.example/a b",
        "https://shop.example/\x7f",
        "https://shop.example/\u2028",
        'https://shop.example/é"\\',
        "https://\u017fhop.example",  # long s: matches `s` ignoring case in Python
        "http\u017f://shop.example",
        "https://" + "x" * 2040,
        "https://" + "x" * 2041,
        "",
        7,
    ),
    "amount": (
        0.0,
        -0.0,
        0.0001,
        0.00009999,
        1e15,
        999999999999999.9,
        123.45,
        0.1 + 0.2,
        5,
        2**53,
        -1.5,
        float("nan"),
        float("inf"),
        "12.50",
        True,
    ),
    "currency": ("USD", "usd", " eur ", "XXX", "ABC", "", "ü", 840),
    "content_name": ("Product 1", " ", "é" * 1024, "é" * 1025, 5),
    "content_category": (
        "Apparel & Accessories > Shoes",
        "apparel & accessories >   shoes",
        "Dresses",
        "2915",
        "02915",
        166,
        166.0,
        -1,
        "Unknown Thing",
        "",
        "  ",
        "x" * 257,
    ),
}


def _encode(event: dict[str, Any]) -> bytes:
    return avro.encode(SCHEMA, differential.with_groups(event))


@cache
def corpus() -> tuple[bytes, ...]:
    records = list(differential.records())
    records += [_encode(event) for event in typical_events(1500, seed=3)]
    base = list(sample_events(len(EDGES) * 30, seed=5))
    index = 0
    for name, values in EDGES.items():
        for value in values:
            event = base[index % len(base)]
            index += 1
            properties = {**event["properties"], name: value}
            if value is None:
                del properties[name]
            records.append(_encode({**event, "properties": properties}))
    for event in sample_events(300, seed=9):  # no event time: the record's, then Kafka's
        del event["properties"]["$event_time"]
        event["timestamp"] = (None, 0, -5, START_MS)[len(records) % 4]
        records.append(_encode(event))
    return tuple(records)


def _prepared(preparer: Preparer, records: tuple[bytes, ...]) -> list[Any]:
    batch = [
        (value, SourceCoordinates("events", 0, n, (START_MS, None, 0)[n % 3]))
        for n, value in enumerate(records)
    ]
    return [differential.prepared_json(item) for item in preparer.prepare(batch, NOW_MS)]


SETTINGS = {
    "defaults": (TransformSettings(event_name_mapping=DEMO_EVENT_NAME_MAPPING), RoutingSettings()),
    "variants": (
        TransformSettings(
            event_name_mapping={"Order Completed": "PURCHASE", "page viewed": "LEAD"},
            event_name_aliases=False,
            content_category_mapping={"Dresses": "2271", "Kicks": "Apparel & Accessories > Shoes"},
            phone_format="e164_digits",
            default_opt_out_targeting=False,
            max_event_age_s=200.0,
            max_length=TextLimits(event_id=20, event_source_url=40, user_agent=10, click_id=5),
        ),
        # No default: an event whose brand has no route is rejected (`no_route`).
        RoutingSettings(by="property", property="brand", routes={"globex": "globex"}, default=None),
    ),
    "consent": (  # the demo's: a boolean consent rule, routing by a property
        TransformSettings(
            event_name_mapping=DEMO_EVENT_NAME_MAPPING,
            consent=ConsentSettings(property="marketing_consent", on_missing="attribution_only"),
        ),
        RoutingSettings(
            by="property",
            property="brand",
            routes={"globex": "globex", "true": "flag", "7": "seven", "": "blank"},
            default="acme",
        ),
    ),
    "category_allow_list": (  # OneTrust groups and an allow-list, as data platforms run them
        differential.category_allow_list_settings(),
        RoutingSettings(),
    ),
    "allow_list": (  # no e-mail, no category, amount but no currency (a PURCHASE keeps both)
        TransformSettings(
            event_name_mapping=DEMO_EVENT_NAME_MAPPING,
            allowed_fields=(
                "user_data.device_id",
                "user_data.hashed_phone_number",
                "event_details.amount",
                "event_details.content_name",
            ),
        ),
        RoutingSettings(),
    ),
}


def _preparers(name: str) -> tuple[Preparer, Preparer]:
    """A Preparer with the native path and one without, for SETTINGS[name]."""
    transform, routing = SETTINGS[name]
    return (
        Preparer(DecodeSettings(), transform, routing),
        Preparer(DecodeSettings(), transform, routing, native=False),
    )


_kept_preparers = cache(_preparers)  # for the many examples of one test


def test_the_extension_is_built_and_used_with_default_settings() -> None:
    assert native_prepare.available(), "connector.prepare._native is not built: `make setup`"
    assert Preparer(DecodeSettings(), TransformSettings()).native is True


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_record_prepares_as_in_python(name: str) -> None:
    native, python = _preparers(name)
    assert native.native
    assert not python.native
    expected = _prepared(python, corpus())
    for _ in range(2):  # the second round after learning names and categories
        found = _prepared(native, corpus())
        mismatches = [
            (n, e, f) for n, (e, f) in enumerate(zip(expected, found, strict=True)) if e != f
        ]
        assert mismatches == []


@pytest.mark.parametrize("shape", ["typical", "full"])
@pytest.mark.parametrize("name", ["defaults", "consent", "category_allow_list", "allow_list"])
def test_the_native_path_takes_every_warning_free_sample_event(shape: str, name: str) -> None:
    native, python = _preparers(name)
    events = typical_events(2000, seed=4) if shape == "typical" else sample_events(2000, seed=4)
    batch = [
        (_encode(event), SourceCoordinates("events", 0, n, START_MS))
        for n, event in enumerate(events)
    ]
    native.prepare(batch, NOW_MS)  # learns the event names and categories
    assert native._native is not None
    taken = native._native.prepare_batch(batch, NOW_MS)
    for fast, slow in zip(taken, python.prepare(batch, NOW_MS), strict=True):
        clean = isinstance(slow, Ready) and not slow.warnings
        assert (type(fast) is not int) == clean
    # A short phone is 1 event in 8, a consent denied or missing 1 in 10.
    assert sum(type(fast) is not int for fast in taken) >= 1500


@settings(max_examples=300, deadline=None)
@given(
    amount=st.floats(min_value=0, max_value=2e15) | st.floats(min_value=0, max_value=1e-3),
    text=st.text(max_size=12),
)
def test_amounts_and_any_text_come_out_as_in_python(amount: float, text: str) -> None:
    event = next(sample_events(1, seed=1))
    properties = {**event["properties"], "amount": amount, "content_name": text}
    properties["$user_agent"] = text + "/5.0"
    properties["$spclid"] = f" {text} "
    record = [(_encode({**event, "properties": properties}), SourceCoordinates("e", 0, 0))]
    native, python = _kept_preparers("defaults")
    found = [differential.prepared_json(p) for p in native.prepare(record, NOW_MS)]
    assert found == [differential.prepared_json(p) for p in python.prepare(record, NOW_MS)]


def test_strip_is_pythons_for_every_character() -> None:
    from connector.prepare import _native as _prepare_native

    texts = (f"{chr(c)}a{chr(c)}" for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    different = [text for text in texts if _prepare_native.py_strip(text) != text.strip()]
    assert different == []


@pytest.mark.parametrize(
    ("decode", "transform"),
    [
        (DecodeSettings(format="confluent", schema_registry_url="http://r:1"), None),
        (DecodeSettings(writer_schema_path=Path("schemas/tracking_event.avsc")), None),
        (None, TransformSettings(consent=ConsentSettings(property="c", category="ads"))),
        (None, TransformSettings(allowed_fields=("user_data.ip_address",))),
    ],
)
def test_the_settings_production_uses_keep_the_native_path_on(
    decode: DecodeSettings | None, transform: TransformSettings | None
) -> None:
    assert native_prepare.covers(decode or DecodeSettings(), transform or TransformSettings())
    if decode is None or decode.format == "avro":  # and the Preparer follows it
        preparer = Preparer(decode or DecodeSettings(), transform or TransformSettings())
        assert preparer.native


def test_a_schemaless_writer_schema_it_cannot_plan_keeps_it_off(tmp_path: Path) -> None:
    schema = json.loads(avro.bundled_text(avro.TRACKING_EVENT))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "event"]  # no event name
    path = tmp_path / "old.avsc"
    path.write_text(json.dumps(schema))
    decode = DecodeSettings(writer_schema_path=path)
    covered = native_prepare.coverage(decode, TransformSettings())
    assert not covered.native
    assert covered.why == (
        f"schemaless Avro written with {path}: Python (the writer has no field 'event', "
        "which needs a value)",
    )
    assert not Preparer(decode, TransformSettings()).native


def test_the_pure_switch_turns_the_native_path_off() -> None:
    code = "from connector.prepare import native; print(native.available())"
    env = {**os.environ, _compiled.PURE_ENV: "1"}
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


# --- one rule book: the native code works from the tables Python hands it -----------------------

READY = native_prepare.READY_FIELDS


def _with_tables(
    table: dict[str, tuple[str, str]] = m.PROPERTIES,
) -> tuple[Preparer, native_prepare.NativePrepare]:
    """A Preparer (SETTINGS["defaults"]) whose native path was built from `table` and from
    the module's other tables as they are when it is called."""
    transform, routing = SETTINGS["defaults"]
    preparer = Preparer(DecodeSettings(), transform, routing)
    bridge = native_prepare.NativePrepare(transform, routing, preparer._transformer, table)
    preparer._native = bridge
    return preparer, bridge


def _batch(events: list[dict[str, Any]]) -> list[tuple[bytes, SourceCoordinates]]:
    return [
        (_encode(event), SourceCoordinates("events", 0, n, START_MS))
        for n, event in enumerate(events)
    ]


def _taken(
    preparer: Preparer, bridge: native_prepare.NativePrepare, events: list[Any]
) -> list[Any]:
    """What the native path makes of the events, after a round that taught it their names."""
    batch = _batch(events)
    preparer.prepare(batch, NOW_MS)
    return bridge.prepare_batch(batch, NOW_MS)


def test_the_native_code_has_a_rule_for_every_mapped_property_and_writes_every_field() -> None:
    _, bridge = _with_tables()
    assert bridge.unruled == []
    assert bridge.unwritten == []


def test_every_property_the_table_module_names_is_in_the_table_handed_over() -> None:
    """A property named in mapping.py but left out of PROPERTIES would be ignored natively."""
    named = {value for name, value in vars(m).items() if name.isupper() and type(value) is str}
    named |= {prop for prop, _ in (*m.USER_IP_FIELDS, *m.USER_TEXT_FIELDS)}
    assert named == set(m.PROPERTIES)


ADDED_PROPERTIES: dict[str, dict[str, tuple[str, str]]] = {
    "a rule the native code does not have": {"loyalty_tier": ("user_data.loyalty_tier", "tier")},
    "a rule it has, a field it cannot write": {"store_id": ("user_data.store_id", "capped_text")},
}


@pytest.mark.parametrize("added", ADDED_PROPERTIES.values(), ids=list(ADDED_PROPERTIES))
def test_a_mapped_property_the_native_code_has_no_rule_for_declines_the_record(
    added: dict[str, tuple[str, str]],
) -> None:
    from connector.prepare import _native as _prepare_native

    (name,) = added
    preparer, bridge = _with_tables({**m.PROPERTIES, **added})
    assert bridge.unruled == [name]
    assert bridge.unwritten == []
    events = list(typical_events(400, seed=6))
    carrying = [{**e, "properties": {**e["properties"], name: "gold"}} for e in events]
    without = _taken(preparer, bridge, events)
    assert sum(type(fast) is not int for fast in without) >= 300  # still prepared natively
    assert _taken(preparer, bridge, carrying) == [_prepare_native.OTHER] * len(carrying)
    _, python = _preparers("defaults")  # and Python prepares them, as it would anyway
    assert _prepared(preparer, tuple(v for v, _ in _batch(carrying))) == _prepared(
        python, tuple(v for v, _ in _batch(carrying))
    )


def test_a_null_mapped_property_without_a_native_rule_declines_the_record_too() -> None:
    """Null or not, what the value means is the rule's: Python's."""
    preparer, bridge = _with_tables({**m.PROPERTIES, "loyalty_tier": ("user_data.x", "tier")})
    event = next(typical_events(1, seed=6))
    taken = _taken(preparer, bridge, [event])
    assert type(taken[0]) is not int
    nulled = {**event, "properties": {**event["properties"], "loyalty_tier": None}}
    assert type(_taken(preparer, bridge, [nulled])[0]) is int


def test_the_native_code_reads_each_field_from_the_property_the_table_names() -> None:
    """Property, rule, field and limit come from the table: in a table where `clickID` is read
    from `click` (Python's is not changed here), the native code reads `click` into it."""
    table = dict(m.PROPERTIES)
    table["click"] = table.pop("$spclid")
    preparer, bridge = _with_tables(table)
    event = next(typical_events(1, seed=6))
    event["properties"] = {**event["properties"], "$spclid": "ignored", "click": " c-1 "}
    (fast,) = _taken(preparer, bridge, [event])
    assert type(fast) is tuple
    assert b'"clickID":"c-1"' in fast[READY.index("payload")]


def test_the_ready_tuple_follows_the_field_order_python_hands_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The native code alone (the preparer unpacks the tuple in READY_FIELDS' own order): events
    naming their Spotify event, which need nothing taught."""
    events = [e for e in typical_events(60, seed=6) if "spotify_event_name" in e["properties"]]
    _, bridge = _with_tables()
    expected = [f for f in bridge.prepare_batch(_batch(events), NOW_MS) if type(f) is tuple]
    monkeypatch.setattr(native_prepare, "READY_FIELDS", READY[::-1])
    _, bridge = _with_tables()
    found: list[Any] = [f for f in bridge.prepare_batch(_batch(events), NOW_MS) if type(f) is tuple]
    assert len(found) >= 40
    assert found == [fast[::-1] for fast in expected]
    monkeypatch.setattr(native_prepare, "READY_FIELDS", READY[1:])
    with pytest.raises(ValueError, match="each field of a Ready once"):
        _with_tables()


def test_the_payload_follows_the_wire_order_python_hands_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One definition, `SpotifyEvent.to_wire`, drives the order of both paths' JSON: the native
    code writes the order it is handed, whatever that is."""
    order = native_prepare.wire_order()
    assert order[:3] == ("event_id", "event_name", "event_time")
    assert {path.partition(".")[0] for path in order} >= {"user_data", "event_details"}
    reordered = order[::-1]  # event_details first, each object's fields backwards
    monkeypatch.setattr(native_prepare, "wire_order", lambda: reordered)
    preparer, bridge = _with_tables()
    events = list(sample_events(100, seed=6))
    payloads = [
        fast[READY.index("payload")]
        for fast in _taken(preparer, bridge, events)
        if type(fast) is not int
    ]
    assert len(payloads) >= 50
    for payload in payloads:
        written = orjson.loads(payload)
        paths = [
            f"{key}.{inner}" if isinstance(value, dict) else key
            for key, value in written.items()
            for inner in (value if isinstance(value, dict) else [None])
        ]
        assert paths == [path for path in reordered if path in paths]


def test_a_field_on_the_wire_that_no_property_feeds_declines_every_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = native_prepare.wire_order()
    monkeypatch.setattr(native_prepare, "wire_order", lambda: (*order, "data_processing"))
    preparer, bridge = _with_tables()
    assert bridge.unwritten == ["no property feeds the field data_processing"]
    taken = _taken(preparer, bridge, list(typical_events(20, seed=6)))
    assert all(type(fast) is int for fast in taken)
