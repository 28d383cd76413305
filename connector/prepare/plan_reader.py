"""A Python reader that follows a writer schema's resolution plan (connector/prepare/plan.py).

Records written with a schema other than the bundled one (a producer's next version in the
registry, a schemaless writer schema) were read by fastavro's schema resolution, ~24 µs a typical
record against ~2 µs for the bundled layout's reader (bench/README.md, issue 31). This reader
follows the same plan the native path follows, so the records the native path declines (and the
whole run when it is off) read at the bundled reader's speed. It returns what fastavro returns
for the same bytes, or refuses; tests/unit/test_native_schemas.py holds it to fastavro over the
generator of compatible changes, like the native reader.

Its native twin: native/src/avro.rs (`read_event`), which follows the same plan. A block written
with its size is read through when its values are read and jumped over when skipped, as fastavro
does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import fastavro.read

from connector.prepare import plan as schema_plan
from connector.prepare.reader import _long, _properties, _string
from connector.schemas import avro

Read: TypeAlias = Callable[[bytes, int], tuple[Any, int]]
Skip: TypeAlias = Callable[[bytes, int, int], int]  # (record, position, depth) → position

_double: Final = struct.Struct("<d").unpack_from
_float: Final = struct.Struct("<f").unpack_from
ZERO_SIZED_ITEMS: Final = 4096  # native/src/avro.rs ZERO_SIZED_ITEMS
# Skipped values nested deeper are refused: a recursive type could nest a record's every byte, past
# the stack (a compiled reader would crash, not raise). The native path declines beyond 32
# (native/src/avro.rs MAX_DEPTH); fastavro itself recursed as deep as the stack let it.
MAX_SKIP_DEPTH: Final = 256
_READER: Final = avro.bundled_reading_schema(avro.TRACKING_EVENT)
_READER_FIELDS: Final = tuple(str(field["name"]) for field in _READER["fields"])
# How the bundled schema's own plan reads the property bag: a writer whose bag is written the same
# way is read by the bundled reader's loop.
_BUNDLED_VALUES: Final = dict(
    zip(_READER_FIELDS, (how for _, how in schema_plan.plan(_READER)[0]), strict=True)
)["properties"]


def plan_reader(writer: Any) -> Callable[[bytes], dict[str, Any]] | None:
    """The reader of records written with parsed `writer`; None when it cannot be planned (then
    fastavro's resolution reads them)."""
    try:
        steps, skips = schema_plan.plan(writer)
    except schema_plan.NotPlanned:
        return None
    skippers: list[Skip] = []
    for node in skips:
        skippers.append(_skipper(node, skippers))
    fields: list[tuple[str | None, Read]] = []
    for field, (role, how) in zip(writer["fields"], steps, strict=True):
        if role == "skip":
            fields.append((None, _skipping(skippers[how])))
        else:
            fields.append((field["name"], _reader(how)))
    # The reader's fields the writer lacks take their default (null), after the others (fastavro's
    # order).
    written = {name for name, _ in fields}
    absent = [name for name in _READER_FIELDS if name not in written]

    def read(b: bytes) -> dict[str, Any]:
        record: dict[str, Any] = {}
        pos = 0
        for name, step in fields:
            if name is None:
                _, pos = step(b, pos)
            else:
                record[name], pos = step(b, pos)
        if pos > len(b):  # slicing past the end does not raise: the last value was cut short
            raise EOFError("the record ends early")
        for name in absent:
            record[name] = None
        return record

    return read


def _skipping(skip: Skip) -> Read:
    return lambda b, pos: (None, skip(b, pos, 0))


def _boolean(b: bytes, pos: int) -> tuple[bool, int]:
    flag = b[pos]
    if flag > 1:
        raise ValueError("a boolean byte other than 0 or 1")
    return flag == 1, pos + 1


def _null(_b: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _long_as_double(b: bytes, pos: int) -> tuple[float, int]:
    value, pos = _long(b, pos)
    return float(value), pos


def _as_double(b: bytes, pos: int) -> tuple[float, int]:
    return _float(b, pos)[0], pos + 4


def _double_value(b: bytes, pos: int) -> tuple[float, int]:
    return _double(b, pos)[0], pos + 8


_PRIMITIVE_READS: Final[dict[str, Read]] = {
    "null": _null,
    "boolean": _boolean,
    "long": _long,
    "long_as_double": _long_as_double,
    "float_as_double": _as_double,
    "double": _double_value,
    "string": _string,
}


def _count(b: bytes, pos: int) -> tuple[int, int, int]:
    """A block's item count (0 ends), the block's size in bytes (-1 when not written), and the
    position after them."""
    count, pos = _long(b, pos)
    size = -1
    if count < 0:
        size, pos = _long(b, pos)
        if size < 0:
            raise ValueError("a negative block size")
        count = -count
    # Items of no bytes (null, an empty fixed) could make a count of billions cost as much (a
    # hang in fastavro): refused beyond the bytes left and ZERO_SIZED_ITEMS, as natively.
    if count > len(b) - pos and count > ZERO_SIZED_ITEMS:
        raise ValueError("a block counting more items than the record holds")
    return count, size, pos


def _reader(how: Any) -> Read:
    if isinstance(how, str):
        return _PRIMITIVE_READS[how]
    kind, inner = how
    if how == _BUNDLED_VALUES:
        return _properties
    if kind == "union":
        return _union([None if branch is None else _reader(branch) for branch in inner])
    item = _reader(inner)
    if kind == "array":
        return _array(item)
    return _map(item)


def _union(branches: list[Read | None]) -> Read:
    def read(b: bytes, pos: int) -> tuple[Any, int]:
        index, pos = _long(b, pos)
        if not 0 <= index < len(branches):
            raise ValueError("a union branch out of range")
        branch = branches[index]
        if branch is None:  # no reader type takes this branch: fastavro refuses the record
            raise fastavro.read.SchemaResolutionError("a union branch no reader type takes")
        return branch(b, pos)

    return read


def _array(item: Read) -> Read:
    def read(b: bytes, pos: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while True:
            count, _, pos = _count(b, pos)
            if count == 0:
                return items, pos
            for _ in range(count):
                value, pos = item(b, pos)
                items.append(value)

    return read


def _map(value: Read) -> Read:
    def read(b: bytes, pos: int) -> tuple[dict[str, Any], int]:
        entries: dict[str, Any] = {}
        while True:
            count, _, pos = _count(b, pos)
            if count == 0:
                return entries, pos
            for _ in range(count):
                key, pos = _string(b, pos)
                entries[key], pos = value(b, pos)

    return read


# --- skipping a writer field no reader field takes (plan.py's skip nodes, by index) ----------


def _skipper(node: Any, skippers: list[Skip]) -> Skip:
    if isinstance(node, str):
        return _PRIMITIVE_SKIPS[node]
    kind, inner = node
    if kind == "fixed":
        size: int = inner
        return lambda _b, pos, _depth: pos + size
    if kind == "union":
        return _skip_union(inner, skippers)
    if kind == "record":
        return _skip_record(inner, skippers)
    return _skip_blocks(inner, skippers, pairs=kind == "map")


def _skip_bytes(b: bytes, pos: int, _depth: int = 0) -> int:
    length, pos = _long(b, pos)
    if length < 0:
        raise ValueError("a negative length")
    return pos + length


def _skip_long(b: bytes, pos: int, _depth: int) -> int:
    return _long(b, pos)[1]


def _skip_boolean(b: bytes, pos: int, _depth: int) -> int:
    return _boolean(b, pos)[1]


_PRIMITIVE_SKIPS: Final[dict[str, Skip]] = {
    "null": lambda _b, pos, _depth: pos,
    "boolean": _skip_boolean,
    "long": _skip_long,
    "float": lambda _b, pos, _depth: pos + 4,
    "double": lambda _b, pos, _depth: pos + 8,
    "bytes": _skip_bytes,
}


def _skip_union(branches: tuple[int, ...], skippers: list[Skip]) -> Skip:
    def skip(b: bytes, pos: int, depth: int) -> int:
        index, pos = _long(b, pos)
        if not 0 <= index < len(branches):
            raise ValueError("a union branch out of range")
        return skippers[branches[index]](b, pos, depth + 1)

    return skip


def _skip_record(fields: tuple[int, ...], skippers: list[Skip]) -> Skip:
    def skip(b: bytes, pos: int, depth: int) -> int:
        if depth > MAX_SKIP_DEPTH:
            raise ValueError("a skipped value nested too deep")
        for node in fields:  # looked up when called: a record may hold itself
            pos = skippers[node](b, pos, depth + 1)
        return pos

    return skip


def _skip_blocks(node: int, skippers: list[Skip], *, pairs: bool) -> Skip:
    def skip(b: bytes, pos: int, depth: int) -> int:
        while True:
            count, size, pos = _count(b, pos)
            if count == 0:
                return pos
            if size >= 0:  # written with its size: jumped over, as fastavro does
                pos += size
                continue
            for _ in range(count):
                if pairs:
                    pos = _skip_bytes(b, pos)
                pos = skippers[node](b, pos, depth + 1)

    return skip
