"""CPU time a record of decode, transform, `Preparer.prepare` and the hand-off, in this process.

    .venv/bin/python -m bench.prepare_cpu [--events 20000] [--rounds 7] [--shape typical]
    .venv/bin/python -m bench.prepare_cpu --instructions [--events 2000] [--shape typical]

The events are `bench.end_to_end`'s (`--shape typical`: the ~350-byte web events issue 20 was
measured with), the settings `bench.result_path`'s. Each round times, with `time.process_time`,
decoding every record, transforming the decoded events, and `prepare` (decode, transform,
routing, `to_wire` and orjson) of every record in batches of `poll_batch_size` (1,000), after
`tune_for_streaming` as the connector does: `prepare` with the native path where it is built
(connector/prepare/native.py), `python` without it; then the hand-off that `prepare_processes`
adds, batch by batch with the executor's pickling: `ship` and `unpack` in the connector's
process, `receive` and `pack` in the prepare process. The figures are the medians of the rounds
in µs a record. `SPOTIFY_CAPI_PURE_PYTHON=1` runs the Python sources instead of the compiled
build (and no native path).

`--instructions` counts instructions a record instead, under valgrind (cachegrind, no cache
simulation): each stage is run by a child process twice, once with no rounds and once with
`--rounds` of them, and the difference is divided by the records those rounds handled. The
VM's speed moves CPU time by up to twice within minutes; the count does not move, so it shows a
change of a few per cent that time cannot. It is not time: valgrind's CPU has no SHA extensions,
so OpenSSL hashes in generic code there, and a cache miss counts as one instruction.
bench/README.md ("Decode + transform per record") has the figures.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench.end_to_end import EVENT_SHAPES, _encode_chunk
from bench.result_path import settings_for
from connector.models import SourceCoordinates, TrackingEvent
from connector.prepare import pool
from connector.prepare.preparer import Preparer
from connector.process import compiled as _compiled
from connector.process.gc_tuning import tune_for_streaming

NOW_MS = 1_767_225_600_000 + 3_600_000  # an hour after the sample events start
BATCH = 1000  # pipeline.poll_batch_size's default: what one prepare call gets
STAGES = ("decode", "transform", "prepare", "python", "ship", "receive", "pack", "unpack")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=None, help="20,000; 2,000 counting")
    parser.add_argument("--rounds", type=int, default=None, help="7; 2 counting")
    parser.add_argument("--shape", choices=sorted(EVENT_SHAPES), default="typical")
    parser.add_argument("--instructions", action="store_true", help="count, under valgrind")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # a counted child
    args = parser.parse_args()
    if args.instructions:
        _count_instructions(_or(args.events, 2_000), _or(args.rounds, 2), args.shape)
        return
    events, rounds = _or(args.events, 20_000), _or(args.rounds, 7)
    stages = _stages(events, args.shape)
    if args.stage is not None:  # a child of --instructions: the stage's rounds, nothing else
        for _ in range(rounds):
            stages[args.stage]()
        return
    seconds: dict[str, list[float]] = {stage: [] for stage in stages}
    for _ in range(rounds):
        for stage, run in stages.items():
            start = time.process_time()
            run()
            seconds[stage].append(time.process_time() - start)
    print(f"{_compiled.describe()}; {events} {args.shape} events x {rounds} rounds")
    for stage, spent in seconds.items():
        per_record = sorted(s / events * 1e6 for s in spent)
        print(
            f"{stage:>9}: median {statistics.median(per_record):5.2f} µs a record "
            f"(rounds {per_record[0]:.2f} to {per_record[-1]:.2f})"
        )


def _or(given: int | None, default: int) -> int:
    return default if given is None else given  # 0 rounds is a count: the setup's


def _stages(count: int, shape: str) -> dict[str, Callable[[], None]]:
    """A round of each stage, over the same records, as prepare runs them."""
    values = _encode_chunk((0, count, True, shape))
    settings = settings_for("localhost:1", "x")
    preparer = Preparer(settings.decode, settings.transform, settings.routing)
    in_python = Preparer(settings.decode, settings.transform, settings.routing, native=False)
    records = [(value, SourceCoordinates("x-in", 0, offset)) for offset, value in enumerate(values)]
    for warmed in (preparer, in_python):  # caches: taxonomy, phone plans, minutes, names
        warmed.prepare(records[:2000], NOW_MS)
    tune_for_streaming()
    decode = preparer._decoder.decode
    transform = preparer._transformer.transform
    events: list[TrackingEvent] = [decode(value) for value in values]

    def decode_all() -> None:
        for value in values:
            decode(value)

    def transform_all() -> None:
        for event, (_, coordinates) in zip(events, records, strict=True):
            transform(event, coordinates, NOW_MS)

    def prepare_all() -> None:
        for first in range(0, len(records), BATCH):
            preparer.prepare(records[first : first + BATCH], NOW_MS)

    def python_all() -> None:
        for first in range(0, len(records), BATCH):
            in_python.prepare(records[first : first + BATCH], NOW_MS)

    # The hand-off to a prepare process and back, batch by batch, the executor's pickling of
    # the call and of the answer included: what `prepare_processes` adds to preparing.
    batches = [records[first : first + BATCH] for first in range(0, len(records), BATCH)]
    shipped = [pickle.dumps(pool._ship(batch)) for batch in batches]
    prepared = [preparer.prepare(batch, NOW_MS) for batch in batches]
    packed = [pickle.dumps(pool._pack(answer)) for answer in prepared]

    def ship_all() -> None:  # the connector's process
        for batch in batches:
            pickle.dumps(pool._ship(batch))

    def receive_all() -> None:  # the prepare process
        for blob in shipped:
            pool._receive(pickle.loads(blob))  # noqa: S301 - made above

    def pack_all() -> None:  # the prepare process
        for answer in prepared:
            pickle.dumps(pool._pack(answer))

    def unpack_all() -> None:  # the connector's process
        for blob in packed:
            pool._unpack(pickle.loads(blob))  # noqa: S301 - made above

    return {
        "decode": decode_all,
        "transform": transform_all,
        "prepare": prepare_all,
        "python": python_all,
        "ship": ship_all,
        "receive": receive_all,
        "pack": pack_all,
        "unpack": unpack_all,
    }


def _count_instructions(count: int, rounds: int, shape: str) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind on PATH (Debian: apt install valgrind)")
    print(f"{_compiled.describe()}; {count} {shape} events, {rounds} rounds, instructions")
    for stage in STAGES:
        # The child with no rounds pays for imports and setup only: both run at once.
        children = [_counted(valgrind, stage, count, n, shape) for n in (0, rounds)]
        setup, total = (_instructions(child) for child in children)
        print(f"{stage:>9}: {(total - setup) / (count * rounds):9,.0f} instructions a record")


def _counted(
    valgrind: str, stage: str, count: int, rounds: int, shape: str
) -> subprocess.Popen[str]:
    command = [
        valgrind,
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.prepare_cpu",
        f"--stage={stage}",
        f"--events={count}",
        f"--rounds={rounds}",
        f"--shape={shape}",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict probing in every child
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)  # noqa: S603


def _instructions(child: subprocess.Popen[str]) -> int:
    _, report = child.communicate()
    found = re.search(r"I\s+refs:\s+([\d,]+)", report)
    if child.returncode != 0 or found is None:
        sys.exit(f"the counted child failed (exit {child.returncode}):\n{report[-2000:]}")
    return int(found.group(1).replace(",", ""))


if __name__ == "__main__":
    main()
