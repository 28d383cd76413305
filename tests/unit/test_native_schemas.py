"""Writer schemas other than the bundled one on the native path: the plan
(connector/prepare/plan.py) and the native reader that follows it (native/src/avro.rs), held to
fastavro's schema resolution.

- Writer schemas drawn from a generator of compatible changes (fields added of any type, removed,
  reordered; unions widened, also with branches no reader type takes; int → long → double,
  float → double, bytes → string; Java's string annotations; another namespace), and records
  written with them: the native reader reads exactly what fastavro reads, or refuses exactly what
  it refuses. Damaged bytes: refused, or read exactly as fastavro reads them.
- Through the whole prepare path, in the Confluent wire format with a registry double: every
  record comes out of the native path byte for byte as the Python path makes it, or is declined;
  each schema id is looked up once and planned once; after that the native path takes every
  warning-free sample event; a writer schema it cannot plan is Python's for that id only, said in
  one log line.
"""

from __future__ import annotations

import io
import json
import logging
import math
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capi_devtools.samples import DEMO_EVENT_NAME_MAPPING, sample_events, typical_events
from connector.config import DecodeSettings, RoutingSettings, TransformSettings
from connector.kafka import registry as kafka_registry
from connector.kafka.registry import RegisteredSchema
from connector.models import SourceCoordinates
from connector.prepare import _native
from connector.prepare import native as native_prepare
from connector.prepare.plan import NotPlanned, plan
from connector.prepare.plan_reader import plan_reader
from connector.prepare.preparer import NATIVE, Preparer, Ready, Undecodable
from connector.schemas import avro
from tests.support import differential
from tests.support.registry import evolved_schema_text

BUNDLED: dict[str, Any] = json.loads(avro.bundled_text(avro.TRACKING_EVENT))
READER = avro.bundled_reading_schema(avro.TRACKING_EVENT)
NOW_MS = differential.NOW_MS
START_MS = 1_767_225_600_000
LONG = st.integers(min_value=-(2**62), max_value=2**62 - 1)  # a 10-byte varint is Python's


def _field(name: str) -> dict[str, Any]:
    return next(f for f in BUNDLED["fields"] if f["name"] == name)


def parsed(schema: dict[str, Any]) -> Any:
    """As the decoder parses a registry's schema text."""
    return avro.reading_schema_from_text(json.dumps(schema))


# --- an Avro writer with the union branch chosen explicitly ---------------------------------


def zigzag(value: int) -> bytes:
    number, out = (value << 1) ^ (value >> 63), bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    return bytes([*out, number])


def sized(data: bytes) -> bytes:
    return zigzag(len(data)) + data


def blocks(items: list[bytes], *, with_size: bool) -> bytes:
    """One block of items then the end; with its size in bytes as Java writers may write it."""
    if not items:
        return zigzag(0)
    body = b"".join(items)
    head = zigzag(-len(items)) + zigzag(len(body)) if with_size else zigzag(len(items))
    return head + body + zigzag(0)


@dataclass
class Schemas:
    """The named types of a writer schema being drawn."""

    named: dict[str, dict[str, Any]] = field(default_factory=dict)
    count: int = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"com.example.{kind}{self.count}"


def _prefixed(head: bytes) -> Callable[[bytes], bytes]:
    return lambda value: head + value


def encoded(  # noqa: PLR0911 - a return a kind of type
    schema: Any, schemas: Schemas, *, readable: bool = False
) -> st.SearchStrategy[bytes]:
    """Bytes of a valid value of `schema`; `readable`: bytes that are UTF-8 (read as strings)."""
    if isinstance(schema, list):
        return st.one_of(
            *(
                encoded(branch, schemas, readable=readable).map(_prefixed(zigzag(i)))
                for i, branch in enumerate(schema)
            )
        )
    if isinstance(schema, str) and schema in schemas.named:
        return encoded(schemas.named[schema], schemas, readable=readable)
    kind = schema if isinstance(schema, str) else schema["type"]
    text = st.text(max_size=12).map(lambda t: sized(t.encode()))
    simple: dict[str, st.SearchStrategy[bytes]] = {
        "null": st.just(b""),
        "boolean": st.sampled_from([b"\x00", b"\x01"]),
        "int": st.integers(-(2**31), 2**31 - 1).map(zigzag),
        "long": LONG.map(zigzag),
        "float": st.floats(width=32).map(lambda f: struct.pack("<f", f)),
        "double": st.floats().map(lambda f: struct.pack("<d", f)),
        "string": text,
        "bytes": text if readable else st.binary(max_size=12).map(sized),
    }
    if kind in simple:
        return simple[kind]
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if kind == "enum":
        return st.integers(0, len(schema["symbols"]) - 1).map(zigzag)
    if kind == "array":
        items = st.lists(encoded(schema["items"], schemas, readable=readable), max_size=3)
        return st.builds(lambda i, s: blocks(i, with_size=s), items, st.booleans())
    if kind == "map":
        entries = st.lists(
            st.tuples(text, encoded(schema["values"], schemas, readable=readable)), max_size=3
        )
        return st.builds(
            lambda e, s: blocks([k + v for k, v in e], with_size=s), entries, st.booleans()
        )
    assert kind == "record", kind
    fields = [encoded(f["type"], schemas, readable=readable) for f in schema["fields"]]
    return st.tuples(*fields).map(b"".join)


# --- a generator of compatible writer schemas ----------------------------------------------------


@st.composite
def extra_type(  # noqa: PLR0911 - a return a kind of type
    draw: st.DrawFn, schemas: Schemas, depth: int = 0
) -> Any:
    """Any type a writer may add in a field the reader does not know (never bare null: every
    value is at least a byte, so that no block of empty items is counted)."""
    choices = ["boolean", "int", "long", "float", "double", "string", "bytes", "ann", "micros"]
    if depth < 2:
        choices += ["enum", "fixed", "array", "map", "record", "union"]
    kind = draw(st.sampled_from(choices))
    if kind == "ann":
        return {"type": "string", "avro.java.string": "String"}
    if kind == "micros":  # a logical type fastavro would convert: skipped, never converted
        return {"type": "long", "logicalType": "timestamp-micros"}
    if kind == "enum":
        name = schemas.name("Kind")
        schemas.named[name] = {"type": "enum", "name": name, "symbols": ["A", "B", "C"]}
        return schemas.named[name]
    if kind == "fixed":
        name = schemas.name("Hash")
        schemas.named[name] = {"type": "fixed", "name": name, "size": draw(st.integers(0, 4))}
        return schemas.named[name]
    if kind in ("array", "map"):
        inner = draw(extra_type(schemas, depth + 1))
        return {"type": kind, "items" if kind == "array" else "values": inner}
    if kind == "record":
        name = schemas.name("Part")
        count = draw(st.integers(1, 3))
        fields = [
            {"name": f"f{i}", "type": draw(extra_type(schemas, depth + 1))} for i in range(count)
        ]
        schemas.named[name] = {"type": "record", "name": name, "fields": fields}
        return schemas.named[name]
    if kind == "union":
        return ["null", draw(st.sampled_from(["string", "long", "double"]))]
    return kind


NO_READER_TYPE = {"type": "map", "values": "string"}  # no reader type takes a map
# How a writer may declare the reader's fields: each resolves to the reader's type, some only
# for some branches (a record holding one of the others is refused by fastavro, declined here).
VALUE_BRANCHES = (
    "null",
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "string",
    "bytes",
    {"type": "string", "avro.java.string": "String"},
    {"type": "array", "items": "string"},
    {"type": "array", "items": "bytes"},
    {"type": "array", "items": ["null", "string"]},
    NO_READER_TYPE,
)
EVENT_TYPES = (
    "string",
    "bytes",
    ["string", "null"],
    {"type": "string", "avro.java.string": "String"},
)
TIMESTAMP_TYPES = (
    ["null", "long"],
    ["null", "int"],
    ["long", "null"],
    "long",
    ["null", {"type": "long", "logicalType": "timestamp-millis"}],
    ["null", "long", "string"],  # widened with a branch no reader type takes
)
TEXT_TYPES = (
    ["null", "string"],
    "string",
    ["null", "bytes"],
    ["string", "null"],
    ["null", "string", "long"],
)


@st.composite
def writer_schemas(draw: st.DrawFn) -> tuple[dict[str, Any], Schemas]:
    schemas = Schemas()
    values = draw(
        st.lists(st.sampled_from(VALUE_BRANCHES), min_size=1, max_size=6, unique_by=json.dumps)
    )
    if values == [NO_READER_TYPE]:  # a map of maps alone: no record could hold a property
        values = ["string"]
    properties: dict[str, Any] = {
        "name": "properties",
        "type": {"type": "map", "values": values if len(values) > 1 else values[0]},
    }
    fields: list[dict[str, Any]] = [
        {"name": "event", "type": draw(st.sampled_from(EVENT_TYPES))},
        properties,
    ]
    for name, types in (
        ("timestamp", TIMESTAMP_TYPES),
        ("user_id", TEXT_TYPES),
        ("anonymous_id", TEXT_TYPES),
        ("message_id", TEXT_TYPES),
    ):
        if draw(st.booleans()) or (name == "timestamp" and draw(st.booleans())):
            kind = draw(st.sampled_from(types))
            default = {"default": None} if isinstance(kind, list) and kind[0] == "null" else {}
            fields.append({"name": name, "type": kind, **default})
    for index in range(draw(st.integers(0, 3))):
        extra = draw(extra_type(schemas))
        fields.append({"name": f"extra_{index}", "type": extra})
    fields = draw(st.permutations(fields))
    namespace = draw(st.sampled_from(["io.github.spotifycapiconnector", "com.acme.tracking"]))
    schema = {"type": "record", "name": "TrackingEvent", "namespace": namespace, "fields": fields}
    return schema, schemas


@st.composite
def written(draw: st.DrawFn) -> tuple[dict[str, Any], list[bytes]]:
    """A writer schema and records written with it."""
    schema, schemas = draw(writer_schemas())
    records = []
    for _ in range(draw(st.integers(1, 4))):
        parts = []
        for f in schema["fields"]:
            readable = f["name"] in ("event", "properties", "user_id", "anonymous_id", "message_id")
            parts.append(draw(encoded(f["type"], schemas, readable=readable)))
        records.append(b"".join(parts))
    return schema, records


# --- the native reader against fastavro ----------------------------------------------------------


def _fastavro(writer: Any, payload: bytes) -> Any:
    try:
        record: Any = fastavro.schemaless_reader(io.BytesIO(payload), writer, READER)
    except Exception:  # any refusal of the reference
        return None
    return (record["event"], record["properties"], record["timestamp"])


def _fastavro_record(writer: Any, payload: bytes) -> Any:
    try:
        return fastavro.schemaless_reader(io.BytesIO(payload), writer, READER)
    except Exception:  # any refusal of the reference
        return None


def _python(writer: Any, payload: bytes) -> Any:
    """The Python twin of the native reader (connector/prepare/plan_reader.py), or None when it
    refuses the bytes."""
    read = plan_reader(writer)
    assert read is not None
    try:
        return read(payload)
    except (
        EOFError,
        struct.error,
        ValueError,
        IndexError,
        UnicodeDecodeError,
        OverflowError,
        fastavro.read.SchemaResolutionError,
    ):
        return None


def _same(left: Any, right: Any) -> bool:
    """Equality that counts NaN equal to NaN, and tells 1 from 1.0 and True."""
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_same, left, right))
    return type(left) is type(right) and left == right


def test_the_bundled_schema_plans_to_the_bundled_layout() -> None:
    union = ("null", "boolean", "long", "double", "string", ("array", "string"))
    text = ("union", ("null", "string"))
    assert plan(READER) == (
        (
            ("event", "string"),
            ("properties", ("map", ("union", union))),
            ("timestamp", ("union", ("null", "long"))),
            ("check", text),
            ("check", text),
            ("check", text),
        ),
        (),
    )


@given(written())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_records_of_any_compatible_writer_schema_read_as_fastavro_reads_them(
    case: tuple[dict[str, Any], list[bytes]],
) -> None:
    schema, records = case
    writer = parsed(schema)
    planned = plan(writer)
    for payload in records:
        expected = _fastavro(writer, payload)
        found = _native.read_event(planned, payload)
        assert (found is None) == (expected is None), (found, expected)
        if found is not None:
            assert _same(found, expected)
        # The Python twin reads every reader field as fastavro does, or refuses what it refuses.
        in_python, reference = _python(writer, payload), _fastavro_record(writer, payload)
        assert (in_python is None) == (reference is None), (in_python, reference)
        if in_python is not None:
            assert _same(in_python, reference)


def _damage(payload: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(payload)
    for kind, offset, byte in edits:
        at = offset % max(len(data), 1)
        if kind == "set" and data:
            data[at] = byte
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = bytes([byte])
    return bytes(data)


@given(
    written(),
    st.lists(
        st.tuples(
            st.sampled_from(["set", "cut", "insert"]), st.integers(0, 500), st.integers(0, 255)
        ),
        min_size=1,
        max_size=3,
    ),
)
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_damaged_bytes_are_refused_or_read_exactly_as_fastavro_reads_them(
    case: tuple[dict[str, Any], list[bytes]], edits: list[tuple[str, int, int]]
) -> None:
    schema, records = case
    writer = parsed(schema)
    planned = plan(writer)
    for payload in records:
        damaged = _damage(payload, edits)
        found = _native.read_event(planned, damaged)
        if found is not None:
            expected = _fastavro(writer, damaged)
            assert expected is not None, "accepted bytes that fastavro refuses"
            assert _same(found, expected)
        in_python = _python(writer, damaged)
        if in_python is not None:  # what fastavro lets through may be refused, never misread
            reference = _fastavro_record(writer, damaged)
            assert reference is not None, "accepted bytes that fastavro refuses"
            assert _same(in_python, reference)


def test_a_recursive_type_in_a_skipped_field_is_skipped() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"]}],
    }
    schema = {**BUNDLED, "fields": [*BUNDLED["fields"], {"name": "chain", "type": node}]}
    writer = parsed(schema)
    record = differential.with_groups(next(sample_events(1)))
    chain = {"value": 1, "next": {"value": 2, "next": {"value": 3, "next": None}}}
    payload = avro.encode(writer, {**record, "chain": chain})
    found = _native.read_event(plan(writer), payload)
    assert found is not None
    assert _same(found, _fastavro(writer, payload))


def test_a_recursive_value_nested_beyond_the_stack_is_undecodable_not_a_crash(
    tmp_path: Path,
) -> None:
    """A skipped recursive field nested 100,000 deep: the native path declines it (its depth
    bound), the Python path refuses it (its own) and answers Undecodable, as for any other bytes
    it cannot read, rather than overflow the stack."""
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"]}],
    }
    schema = {**BUNDLED, "fields": [*BUNDLED["fields"], {"name": "chain", "type": node}]}
    writer = parsed(schema)
    record = differential.with_groups(next(sample_events(1)))
    head = avro.encode(writer, {**record, "chain": {"value": 0, "next": None}})[:-2]
    depth = 100_000
    payload = head + b"\x00\x02" * depth + b"\x00\x00"  # value 0, then next: a Node, ...
    assert _native.read_event(plan(writer), payload) is None
    assert _python(writer, payload) is None
    path = tmp_path / "writer.avsc"
    path.write_text(json.dumps(schema), encoding="utf-8")
    decode = DecodeSettings(writer_schema_path=path)
    batch = [(payload, SourceCoordinates("events", 0, 0, START_MS))]
    for native in (True, False):
        [outcome] = Preparer(decode, TransformSettings(), native=native).prepare(batch, NOW_MS)
        assert outcome == Undecodable("invalid_avro", "not a tracking event: ValueError")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: {**s, "name": "Event"}, "not a record fastavro reads as the reader's"),
        (
            lambda s: {**s, "fields": [f for f in s["fields"] if f["name"] != "properties"]},
            "the writer has no field 'properties', which needs a value",
        ),
        (
            lambda s: {
                **s,
                "fields": [*s["fields"][:2], {"name": "timestamp", "type": "double"}],
            },
            "the writer's field 'timestamp' cannot be read as the reader's",
        ),
        (
            lambda s: {
                **s,
                "fields": [
                    *s["fields"][:2],
                    {
                        **_field("timestamp"),
                        "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
                    },
                ],
            },
            "the writer's field 'timestamp' holds the logical type 'long-timestamp-micros', "
            "which fastavro converts",
        ),
        (
            lambda s: {
                **s,
                "fields": [{"name": "event", "type": ["null", "long"]}, *s["fields"][1:]],
            },
            "the writer's field 'event' cannot be read as the reader's",
        ),
    ],
    ids=["renamed", "no-properties", "double-timestamp", "micros-timestamp", "numeric-event"],
)
def test_a_writer_schema_the_native_path_cannot_follow_is_not_planned(
    change: Any, reason: str
) -> None:
    with pytest.raises(NotPlanned, match=reason):
        plan(parsed(change(BUNDLED)))


def test_a_property_value_fastavro_would_convert_keeps_the_schema_pythons() -> None:
    """A property value that fastavro turns into a UUID: the schema id is Python's (the records
    of the others are not), and fastavro does convert it."""
    values = [*_field("properties")["type"]["values"], {"type": "string", "logicalType": "uuid"}]
    fields = [
        BUNDLED["fields"][0],
        {"name": "properties", "type": {"type": "map", "values": values}},
    ]
    writer = parsed({**BUNDLED, "fields": fields})
    with pytest.raises(NotPlanned, match="'properties' holds the logical type 'string-uuid'"):
        plan(writer)
    uuid = sized(b"e") + blocks([sized(b"k") + zigzag(6) + sized(b"0" * 32)], with_size=False)
    assert type(_fastavro(writer, uuid)[1]["k"]).__name__ == "UUID"


# --- the whole prepare path, Confluent wire format, a registry double -----------------------------


class RegistryDouble:
    """Schemas by id, counting the lookups (connector.kafka.registry.Registry's interface)."""

    def __init__(self, schemas: dict[int, str]) -> None:
        self.schemas = schemas
        self.lookups: list[int] = []

    def schema(self, schema_id: int) -> RegisteredSchema:
        from connector.errors import DecodeError

        self.lookups.append(schema_id)
        if schema_id not in self.schemas:
            raise DecodeError("unknown_schema_id", f"schema id {schema_id} is not in the registry")
        return RegisteredSchema("AVRO", self.schemas[schema_id])

    def close(self) -> None:
        """Nothing to release."""


CONFLUENT = DecodeSettings(format="confluent", schema_registry_url="http://registry.invalid:1")


def _preparers(
    monkeypatch: pytest.MonkeyPatch, schemas: dict[int, str], transform: TransformSettings
) -> tuple[Preparer, Preparer, RegistryDouble, RegistryDouble]:
    doubles = [RegistryDouble(schemas), RegistryDouble(schemas)]
    made = iter(doubles)
    monkeypatch.setattr(
        kafka_registry.Registry, "for_settings", classmethod(lambda _c, _s: next(made))
    )
    native = Preparer(CONFLUENT, transform, RoutingSettings())
    python = Preparer(CONFLUENT, transform, RoutingSettings(), native=False)
    assert native.native
    assert not python.native
    return native, python, doubles[0], doubles[1]


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def _evolved(text: str) -> tuple[str, Any]:
    return text, avro.reading_schema_from_text(text)


@cache
def schema_texts() -> dict[int, str]:
    """Ours (as the registry holds it), the next version (one optional field more), one drawn
    with every kind of change at once, and an older one without message_id nor timestamp."""
    user_id, anonymous_id, message_id = (
        _field(n) for n in ("user_id", "anonymous_id", "message_id")
    )
    source = {
        "type": "record",
        "name": "Source",
        "fields": [
            {"name": "app", "type": {"type": "string", "avro.java.string": "String"}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "weights", "type": {"type": "map", "values": "float"}},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["WEB", "APP"]}},
            {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        ],
    }
    values = ["null", "int", "boolean", "float", "long", "double", "bytes", "string"]
    many = {  # every kind of change at once; anonymous_id removed
        **BUNDLED,
        "namespace": "com.acme.tracking",
        "fields": [
            {"name": "source", "type": source},
            message_id,
            {"name": "event", "type": "bytes"},
            {
                "name": "properties",
                "type": {"type": "map", "values": [*values, {"type": "array", "items": "string"}]},
            },
            {"name": "timestamp", "type": ["null", "int", "long"], "default": None},
            {
                "name": "seen_at",
                "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
                "default": None,
            },
            user_id,
        ],
    }
    assert anonymous_id not in many["fields"]
    older = {**BUNDLED, "fields": BUNDLED["fields"][:2] + BUNDLED["fields"][3:5]}
    return {
        1: avro.bundled_text(avro.TRACKING_EVENT),
        2: evolved_schema_text(),
        3: json.dumps(many),
        4: json.dumps(older),
    }


def _value(  # noqa: PLR0911 - a return a kind of type
    schema: Any, value: Any, named: dict[str, Any]
) -> bytes:
    """`value` in the branch of `schema` a writer would pick for its Python type; ValueError
    when the schema has none (the writer could not send the property)."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        for index, branch in enumerate(schema):
            try:
                return zigzag(index) + _value(branch, value, named)
            except ValueError:
                continue
        raise ValueError("no branch")
    kind = schema if isinstance(schema, str) else schema["type"]
    if value is None and kind == "null":
        return b""
    if type(value) is bool and kind == "boolean":
        return b"\x01" if value else b"\x00"
    if type(value) is int and kind in ("int", "long") and (kind == "long" or abs(value) < 2**31):
        return zigzag(value)
    if type(value) is float and kind in ("float", "double"):
        if kind == "float" and struct.unpack("<f", struct.pack("<f", value))[0] != value:
            raise ValueError("not a float")
        return struct.pack("<f" if kind == "float" else "<d", value)
    if type(value) is str and kind in ("string", "bytes"):
        return sized(value.encode())
    if type(value) is list and kind == "array":
        return blocks([_value(schema["items"], v, named) for v in value], with_size=False)
    raise ValueError(f"{kind} cannot hold {type(value).__name__}")


def write(schema_text: str, event: dict[str, Any], rng: random.Random) -> bytes:
    """A sample event as a producer with this writer schema writes it: properties its value
    union cannot hold are left out, fields of its own get values of their own."""
    writer = json.loads(schema_text)
    named: dict[str, Any] = {}
    parts = []
    for f in writer["fields"]:
        name, kind = f["name"], f["type"]
        if name == "properties":
            values = kind["values"]
            entries = []
            for key, value in event["properties"].items():
                try:
                    entries.append(sized(key.encode()) + _value(values, value, named))
                except ValueError:
                    continue
            parts.append(blocks(entries, with_size=rng.random() < 0.3))
        elif name in ("event", "timestamp", "user_id", "anonymous_id", "message_id"):
            parts.append(_value(kind, event.get(name), named))
        else:  # the writer's own fields
            own = {
                "source": sized(b"web")
                + blocks([sized(b"a")], with_size=True)
                + blocks([], with_size=False)
                + zigzag(1)
                + b"abcd",
                "seen_at": zigzag(1) + zigzag(rng.randrange(2**40)),
                "source_app": zigzag(1) + sized(b"ios"),
            }
            parts.append(own[name])
    return b"".join(parts)


def _corpus(ids: tuple[int, ...], count: int, seed: int, shape: str = "full") -> list[bytes]:
    rng = random.Random(seed)
    events = (
        sample_events(count, seed=seed) if shape == "full" else typical_events(count, seed=seed)
    )
    out = []
    for n, event in enumerate(events):
        schema_id = ids[n % len(ids)]
        body = write(schema_texts()[schema_id], differential.with_groups(event), rng)
        out.append(framed(schema_id, body))
    return out


def _prepared(preparer: Preparer, records: list[bytes]) -> list[Any]:
    batch = [(v, SourceCoordinates("events", 0, n, START_MS)) for n, v in enumerate(records)]
    return [differential.prepared_json(p) for p in preparer.prepare(batch, NOW_MS)]


SETTINGS = {
    "defaults": TransformSettings(event_name_mapping=DEMO_EVENT_NAME_MAPPING),
    "category_allow_list": differential.category_allow_list_settings(),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_registry_record_prepares_as_in_python(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    native, python, native_registry, _ = _preparers(monkeypatch, schema_texts(), SETTINGS[name])
    rng = random.Random(3)
    records = _corpus((1, 2, 3, 4), 1200, seed=8)
    # Damaged ones too, and records of ids the registry does not know or that are not framed.
    records += [framed(1, b"") + r[5:] if rng.random() < 0.5 else r for r in records[:50]]
    records += [differential.damaged(rng, r) for r in records[:400]]
    records += [framed(77, b"\x02ab"), b"\x01\x00\x00\x00\x01xyz", b"\x00\x00", b""]
    expected = _prepared(python, records)
    taken: list[int] = []
    for _ in range(2):  # the second time with every id planned, names and categories taught
        found = _prepared(native, records)
        mismatches = [
            (n, e, f) for n, (e, f) in enumerate(zip(expected, found, strict=True)) if e != f
        ]
        assert mismatches == []
        taken.append(native.counts[NATIVE] - sum(taken))
    assert [native_registry.lookups.count(i) for i in (1, 2, 3, 4)] == [1, 1, 1, 1]
    # The first batch of an id is Python's while the id is planned; the next ones native.
    assert taken[0] < 0.1 * len(records) < 0.6 * len(records) < taken[1]


@pytest.mark.parametrize("schema_id", [1, 2, 3, 4])
@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("shape", ["typical", "full"])
def test_the_native_path_takes_every_warning_free_registry_event(
    monkeypatch: pytest.MonkeyPatch, schema_id: int, name: str, shape: str
) -> None:
    native, python, _, _ = _preparers(monkeypatch, schema_texts(), SETTINGS[name])
    records = _corpus((schema_id,), 1000, seed=4, shape=shape)
    batch = [(v, SourceCoordinates("events", 0, n, START_MS)) for n, v in enumerate(records)]
    native.prepare(batch, NOW_MS)  # plans the id, learns the event names and categories
    assert native._native is not None
    taken = native._native.prepare_batch(batch, NOW_MS)
    for fast, slow in zip(taken, python.prepare(batch, NOW_MS), strict=True):
        clean = isinstance(slow, Ready) and not slow.warnings
        assert (type(fast) is not int) == clean
    assert sum(type(fast) is not int for fast in taken) >= 700


def test_a_writer_schema_it_cannot_plan_is_pythons_for_that_id_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    micros = {
        **BUNDLED,
        "fields": [
            *BUNDLED["fields"][:2],
            {
                "name": "timestamp",
                "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
                "default": None,
            },
        ],
    }
    texts = {**schema_texts(), 9: json.dumps(micros)}
    native, python, _, _ = _preparers(monkeypatch, texts, SETTINGS["defaults"])
    rng = random.Random(5)
    events = list(typical_events(200, seed=5))
    bodies = [write(texts[1], e, rng) for e in events]
    # The same events under id 9 (timestamp-micros: fastavro makes it a datetime): Python's.
    records = [framed(9 if n % 2 else 1, body) for n, body in enumerate(bodies)]
    with caplog.at_level(logging.WARNING, logger="connector.prepare.native"):
        for _ in range(3):
            assert _prepared(native, records) == _prepared(python, records)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "schema id 9: the native path cannot follow its writer schema (the writer's field "
        "'timestamp' holds the logical type 'long-timestamp-micros', which fastavro converts); "
        "the Python path prepares its records"
    ]
    assert native._native is not None
    taken = native._native.prepare_batch(
        [(r, SourceCoordinates("e", 0, 0)) for r in records], NOW_MS
    )
    assert {fast for n, fast in enumerate(taken) if n % 2} == {_native.WRITER_SCHEMA}
    assert sum(type(fast) is not int for n, fast in enumerate(taken) if n % 2 == 0) >= 80
    assert native.counts[("python", "writer_schema")] >= 2 * 100


def test_a_schemaless_writer_schema_is_planned_once_and_followed(tmp_path: Any) -> None:
    path = tmp_path / "evolved.avsc"
    path.write_text(evolved_schema_text())
    decode = DecodeSettings(writer_schema_path=path)
    transform = SETTINGS["defaults"]
    native = Preparer(decode, transform)
    python = Preparer(decode, transform, native=False)
    assert native.native
    assert native_prepare.coverage(decode, transform).why == (
        f"schemaless Avro written with {path}: native",
    )
    rng = random.Random(6)
    records = [write(evolved_schema_text(), e, rng) for e in typical_events(500, seed=6)]
    for _ in range(2):
        assert _prepared(native, records) == _prepared(python, records)
    assert native.counts[NATIVE] >= 700
