"""The resolution plan of a writer schema against the tracking event's reader schema, for the
native prepare path: Python plans once per writer schema (a Schema Registry id, or the schemaless
writer schema), the native code follows the plan for every record written with it
(native/src/avro.rs, which parses it in native/src/plan.rs).

The plan says what fastavro's schema resolution does with each writer field, in the writer's
order: read it into a field of the tracking event, with the promotions of the Avro spec (int →
long → double, float → double, bytes → string) and a writer union's branches each mapped to the
reader type fastavro picks for it (the first that `match_types` accepts), or skip it. A reader
field the writer lacks takes its default (null: the reader's are). Branch choice is fastavro's
own `match_types`, called here; a branch it refuses is marked so that a record holding it is
declined, and Python decides (fastavro refuses it too). A writer schema whose fields cannot be
read at all (no `event`, a field no reader type takes) or that fastavro would convert (a logical
type such as timestamp-micros or uuid on a field the connector reads; skipped fields may have
any) is not planned: its records stay Python's, and the caller says so once.

The format, as tuples and strings (the native code checks it):

    plan  = (steps, skips)
    steps = ((role, read) | ("skip", node), ...)   # the writer's fields, in order
    role  = "event" | "properties" | "timestamp" | "check"   # check: read for validity only
    read  = "null" | "boolean" | "long" | "long_as_double" | "float_as_double" | "double"
          | "string" | ("array", read) | ("map", read) | ("union", (read | None, ...))
    skips = (skip, ...)                            # node i; nested types by node index
    skip  = "null" | "boolean" | "long" | "float" | "double" | "bytes"
          | ("fixed", size) | ("array", node) | ("map", node) | ("union", (node, ...))
          | ("record", (node, ...))

tests/unit/test_native_schemas.py holds the native path to fastavro's answer for writer schemas
drawn from a generator of compatible changes.
"""

from __future__ import annotations

import importlib
from typing import Any, Final, TypeAlias

import fastavro.read

from connector.schemas import avro

# The module fastavro's schemaless_reader runs (its Cython build, else its Python one): its
# `match_types` is what picks a reader type for a writer's (not in fastavro's type stubs).
_FASTAVRO_READING: Final = importlib.import_module("fastavro.read")._read

Read: TypeAlias = str | tuple[str, Any]
Skip: TypeAlias = str | tuple[str, Any]
Plan: TypeAlias = tuple[tuple[tuple[str, Any], ...], tuple[Skip, ...]]

# The reader's fields the native code reads into; its other fields are read for their validity.
ROLES: Final = {"event": "event", "properties": "properties", "timestamp": "timestamp"}
# (writer type, reader type) → how the value is read (fastavro's READERS, then maybe_promote).
_READS: Final = {
    ("null", "null"): "null",
    ("boolean", "boolean"): "boolean",
    ("int", "long"): "long",
    ("long", "long"): "long",
    ("int", "double"): "long_as_double",
    ("long", "double"): "long_as_double",
    ("float", "double"): "float_as_double",
    ("double", "double"): "double",
    ("string", "string"): "string",
    ("bytes", "string"): "string",
}
_SKIPS: Final = {
    "null": "null",
    "boolean": "boolean",
    "int": "long",
    "long": "long",
    "enum": "long",
    "float": "float",
    "double": "double",
    "bytes": "bytes",
    "string": "bytes",
}
_NAMED: Final = ("record", "error", "enum", "fixed")


class NotPlanned(ValueError):
    """The writer schema is one the native path does not follow; the message says why in terms
    of the schema (field and type names), never of a record."""


class _Converted(Exception):  # a logical type fastavro converts, on a field read (this module's)
    def __init__(self, logical: str) -> None:
        super().__init__(logical)
        self.logical = logical


def plan(writer: Any, reader: Any | None = None) -> Plan:
    """The plan of parsed `writer` (fastavro's `parse_schema`, as the decoder reads it) against
    `reader` (the bundled tracking event's); NotPlanned when there is none."""
    return _Planner(writer, reader or avro.bundled_reading_schema(avro.TRACKING_EVENT)).plan()


def _type(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema["type"])
    return "union" if isinstance(schema, list) else str(schema)


class _Planner:
    def __init__(self, writer: Any, reader: Any) -> None:
        self.writer = writer
        self.reader = reader
        named = writer.get("__named_schemas", {}) if isinstance(writer, dict) else {}
        self.named_schemas = {"writer": named, "reader": reader.get("__named_schemas", {})}
        self.skips: list[Skip] = []
        self.skip_of_name: dict[str, int] = {}

    def plan(self) -> Plan:
        writer, reader = self.writer, self.reader
        if _type(writer) not in ("record", "error") or not self.matches(writer, reader):
            raise NotPlanned("the writer schema is not a record fastavro reads as the reader's")
        readers = {field["name"]: field for field in reader["fields"]}
        if any(field.get("aliases") for field in reader["fields"]):
            raise NotPlanned("the reader schema has aliases")  # not the bundled one
        steps: list[tuple[str, Any]] = []
        for field in writer["fields"]:
            name = field["name"]
            target = readers.pop(name, None)
            if target is None:
                steps.append(("skip", self.skip(field["type"])))
                continue
            try:
                read = self.read(field["type"], target["type"])
            except _Converted as converted:
                raise NotPlanned(
                    f"the writer's field {name!r} holds the logical type {converted.logical!r}, "
                    "which fastavro converts"
                ) from None
            if read is None or (read[0] == "union" and not any(read[1])):
                raise NotPlanned(f"the writer's field {name!r} cannot be read as the reader's")
            steps.append((ROLES.get(name, "check"), read))
        for name, field in readers.items():  # the reader's fields the writer lacks
            if field.get("default", ...) is not None or name in ("event", "properties"):
                raise NotPlanned(f"the writer has no field {name!r}, which needs a value")
        return tuple(steps), tuple(self.skips)

    def matches(self, writer: Any, reader: Any) -> bool:
        """fastavro's own `match_types` (the one its reader calls)."""
        try:
            return bool(_FASTAVRO_READING.match_types(writer, reader, self.named_schemas))
        except TypeError:  # another fastavro than the one this was written against
            raise NotPlanned("fastavro's match_types has another signature") from None

    def definition(self, schema: Any) -> Any:
        """A named type's definition for its name; any other schema as it is."""
        if isinstance(schema, str) and schema in self.named_schemas["writer"]:
            return self.named_schemas["writer"][schema]
        return schema

    def read(self, writer: Any, reader: Any) -> Read | None:
        """How a value of `writer` is read as `reader` (a field's, an item's or a value's type);
        None: fastavro refuses it, or converts it in a way the native code does not follow."""
        if isinstance(writer, list):  # read_union: the branch picks the reader type
            return ("union", tuple(self.branch(b, reader) for b in writer))
        return self.branch(writer, reader)

    def branch(self, writer: Any, reader: Any) -> Read | None:
        """A writer type that is not a union, read as `reader` (read_data: a reader union's first
        branch that matches)."""
        if isinstance(reader, list):
            chosen = next((r for r in reader if self.matches(writer, r)), None)
            return None if chosen is None else self.direct(writer, chosen)
        return self.direct(writer, reader) if self.matches(writer, reader) else None

    def direct(self, writer: Any, reader: Any) -> Read | None:
        definition = self.definition(writer)
        kind, reader_kind = _type(definition), _type(reader)
        if isinstance(definition, dict) and "logicalType" in definition:
            logical = f"{kind}-{definition['logicalType']}"
            if logical in fastavro.read.LOGICAL_READERS:
                raise _Converted(logical)  # fastavro converts it (a datetime, a UUID, ...)
        if kind == reader_kind == "array":
            items = self.read(definition["items"], reader["items"])
            return None if items is None else ("array", items)
        if kind == reader_kind == "map":
            values = self.read(definition["values"], reader["values"])
            return None if values is None else ("map", values)
        return _READS.get((kind, reader_kind))

    def skip(self, writer: Any) -> int:
        """The skip node of a writer type no reader field takes; a named type's once."""
        name = writer if isinstance(writer, str) else None
        definition = self.definition(writer)
        if isinstance(definition, dict) and _type(definition) in _NAMED:
            name = definition["name"]
        if name is not None and name in self.skip_of_name:
            return self.skip_of_name[name]
        node = len(self.skips)
        self.skips.append("null")  # a place, for a record that refers to itself
        if name is not None:
            self.skip_of_name[name] = node
        self.skips[node] = self.skip_node(definition)
        return node

    def skip_node(self, writer: Any) -> Skip:
        if isinstance(writer, list):
            return ("union", tuple(self.skip(b) for b in writer))
        kind = _type(writer)
        if kind in _SKIPS:
            return _SKIPS[kind]
        if kind == "fixed":
            return ("fixed", int(writer["size"]))
        if kind == "array":
            return ("array", self.skip(writer["items"]))
        if kind == "map":
            return ("map", self.skip(writer["values"]))
        if kind in ("record", "error"):
            return ("record", tuple(self.skip(field["type"]) for field in writer["fields"]))
        raise NotPlanned(f"a field of the type {kind!r}, which the native path cannot skip")
