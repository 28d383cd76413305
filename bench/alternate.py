"""Two or more connector settings, alternated over one topic: a (b) row of `bench/end_to_end.py`
for each, round after round, so that the VM's drift falls on all of them alike.

    .venv/bin/python -m bench.alternate --events 200000 --latency 50 --rounds 3 \\
        --event-shape typical CONNECTOR_SINK__MAX_IN_FLIGHT=16 CONNECTOR_SINK__MAX_IN_FLIGHT=32

Each variant is `NAME=VALUE[,NAME=VALUE...]` (environment variables of `run`; an empty one runs
the defaults); `tree=PATH` among them runs `run` from that checkout (say, a worktree of an older
commit, to measure it beside this one in the same run):

    git worktree add --detach ../old 0d6b904
    .venv/bin/python -m bench.alternate --events 100000 --latency 0 --event-shape full \\
        tree=../old,CONNECTOR_PIPELINE__PREPARE_PROCESSES=0 ""

Prints every run and each variant's medians (events/s, µs CPU an event);
bench/README.md records what it measured.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from bench import end_to_end as e2e
from capi_devtools.localinfra import KafkaBroker


def _settings(variant: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in filter(None, variant.split(",")):
        name, _, value = item.partition("=")
        settings[name] = value
    return settings


def _row(variant: str, bootstrap: str, topic: str, url: str, *, total: int, prepare: str) -> Any:
    settings = _settings(variant)
    tree = settings.pop("tree", None)
    source = Path(tree).resolve() if tree else None
    return e2e.throughput(bootstrap, topic, url, total, 1, prepare=prepare, tree=source, **settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency", type=int, default=50, help="the sandbox's, in ms")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--event-shape", choices=sorted(e2e.EVENT_SHAPES), default="typical")
    parser.add_argument("--prepare", default="auto", help="pipeline.prepare_processes")
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in args.variants}
    with KafkaBroker(heap="1g") as broker, e2e.SandboxProcess() as sandbox:
        topic = e2e.fill_topic(broker.bootstrap, "alternate", args.events, args.event_shape)
        sandbox.latency(args.latency)
        for round_ in range(args.rounds):
            for variant in args.variants:
                row = _row(
                    variant,
                    broker.bootstrap,
                    topic,
                    sandbox.url,
                    total=args.events,
                    prepare=args.prepare,
                )
                runs[variant].append(row)
                print(
                    f"round {round_} {variant or '(defaults)'}: "
                    f"{row['events_per_s']:,.0f} events/s, {row['cpu_us_per_event']:.1f} µs CPU",
                    flush=True,
                )
    for variant, rows in runs.items():
        rates = [row["events_per_s"] for row in rows]
        cpu = [row["cpu_us_per_event"] for row in rows]
        print(
            f"{variant or '(defaults)'}: median {statistics.median(rates):,.0f} events/s "
            f"({min(rates):,.0f}-{max(rates):,.0f}), {statistics.median(cpu):.1f} µs CPU"
        )


if __name__ == "__main__":
    main()
