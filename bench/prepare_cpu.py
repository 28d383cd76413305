"""CPU time a record of decode, transform and the whole `Preparer.prepare`, in this process.

    .venv/bin/python -m bench.prepare_cpu [--events 20000] [--rounds 7] [--shape typical]

The events are `bench.end_to_end`'s (`--shape typical`: the ~350-byte web events issue 20 was
measured with), the settings `bench.result_path`'s. Each round times, with `time.process_time`,
decoding every record, transforming the decoded events, and `prepare` (decode, transform,
routing, `to_wire` and orjson) of every record in batches of `poll_batch_size` (1,000), after
`tune_for_streaming` as the connector does; the figures are the medians of the rounds in µs a
record. `SPOTIFY_CAPI_PURE_PYTHON=1` runs the Python sources instead of the compiled build.
bench/README.md ("Decode + transform per record") has the figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.end_to_end import EVENT_SHAPES, _encode_chunk
from bench.result_path import settings_for
from connector import _compiled
from connector.gc_tuning import tune_for_streaming
from connector.models import SourceCoordinates, TrackingEvent
from connector.prepare import Preparer

NOW_MS = 1_767_225_600_000 + 3_600_000  # an hour after the sample events start
BATCH = 1000  # pipeline.poll_batch_size's default: what one prepare call gets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--shape", choices=sorted(EVENT_SHAPES), default="typical")
    args = parser.parse_args()
    values = _encode_chunk((0, args.events, True, args.shape))
    settings = settings_for("localhost:1", "x")
    preparer = Preparer(settings.decode, settings.transform, settings.routing)
    records = [(value, SourceCoordinates("x-in", 0, offset)) for offset, value in enumerate(values)]
    preparer.prepare(records[:2000], NOW_MS)  # warm caches: taxonomy, phone plans, minutes
    tune_for_streaming()
    decode = preparer._decoder.decode  # the stages apart, as prepare runs them
    transform = preparer._transformer.transform
    stages: dict[str, list[float]] = {"decode": [], "transform": [], "prepare": []}
    for _ in range(args.rounds):
        start = time.process_time()
        events: list[TrackingEvent] = [decode(value) for value in values]
        stages["decode"].append(time.process_time() - start)
        start = time.process_time()
        for event, (_, coordinates) in zip(events, records, strict=True):
            transform(event, coordinates, NOW_MS)
        stages["transform"].append(time.process_time() - start)
        start = time.process_time()
        for first in range(0, len(records), BATCH):
            preparer.prepare(records[first : first + BATCH], NOW_MS)
        stages["prepare"].append(time.process_time() - start)
    print(f"{_compiled.describe()}; {args.events} {args.shape} events x {args.rounds} rounds")
    for stage, seconds in stages.items():
        per_record = sorted(s / args.events * 1e6 for s in seconds)
        print(
            f"{stage:>9}: median {statistics.median(per_record):5.2f} µs a record "
            f"(rounds {per_record[0]:.2f} to {per_record[-1]:.2f})"
        )


if __name__ == "__main__":
    main()
