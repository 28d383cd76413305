"""The inputs production uses, one row each, on one broker and the same events: the connector's
events/s and CPU an event in each row against schemaless events (issue 31's table).

    .venv/bin/python -m bench.inputs [--events 200000] [--rounds 3] [--latency 0]
        [--event-shape typical] [--rows schemaless confluent evolved category ...] [--tree PATH]

`--tree`: run the connector from that checkout (built in place), as bench.alternate's `tree=`.

Rows (each its own topic, the same events written as that row's producer writes them):
  schemaless          Avro with the bundled schema, the defaults
  confluent           the Confluent wire format, the registry's schema = ours
  evolved             the Confluent wire format, the producer's next version (one optional
                      field more, `source_app`, set on every event)
  category            schemaless, a consent rule by OneTrust category (`onetrust_groups`,
                      C0004) and an allow-list (e-mail, IP, click id, user agent, the event's
                      own fields)
  evolved_category    the two at once

A real Schema Registry (Apicurio, as the tests start it) holds the schemas. Every event carries
`onetrust_groups` (granted where `marketing_consent` is true, denied where false, absent where
missing: tests/support/differential.py `with_groups`), so the events are the same in every row.
The rows are alternated, round after round, so that the VM's drift falls on all alike; each
row's medians are set against the schemaless row's. Results go to bench/out/inputs.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from bench import end_to_end as e2e
from capi_devtools.localinfra import KafkaBroker
from capi_devtools.localinfra.registry import SchemaRegistry
from connector.schemas import avro
from tests.support import differential

GROUPS = differential.GROUPS_PROPERTY
ALLOWED = list(differential.ALLOWED_FIELDS)
CATEGORY = {
    "CONNECTOR_TRANSFORM__CONSENT__PROPERTY": GROUPS,
    "CONNECTOR_TRANSFORM__CONSENT__CATEGORY": "C0004",
    "CONNECTOR_TRANSFORM__CONSENT__ON_DENIED": "drop",
    "CONNECTOR_TRANSFORM__CONSENT__ON_MISSING": "drop",
    "CONNECTOR_TRANSFORM__ALLOWED_FIELDS": json.dumps(ALLOWED),
}
# Row → (how its topic is written, the connector's settings besides the registry's).
ROWS: dict[str, tuple[str, dict[str, str]]] = {
    "schemaless": ("schemaless", {}),
    "confluent": ("confluent", {}),
    "evolved": ("evolved", {}),
    "category": ("schemaless", CATEGORY),
    "evolved_category": ("evolved", CATEGORY),
}
OUT = Path("bench/out")


def evolved_schema() -> dict[str, Any]:
    """The producer's next version: one optional field more."""
    schema: dict[str, Any] = json.loads(avro.bundled_text(avro.TRACKING_EVENT))
    schema["fields"].append({"name": "source_app", "type": ["null", "string"], "default": None})
    return schema


def _groups(event: dict[str, Any], index: int) -> None:
    """OneTrust's groups from the sample's marketing consent (forms alternate)."""
    consent = event["properties"].get("marketing_consent")
    if isinstance(consent, bool):
        granted, denied = (("C0001,C0002,C0004", "C0001,C0002"), ("C0001:1,C0004:1", "C0004:0"))[
            index % 2
        ]
        event["properties"][GROUPS] = granted if consent else denied


def _encode_chunk(job: tuple[int, int, str, str, int]) -> list[bytes]:
    start, count, shape, form, schema_id = job
    if form == "evolved":
        schema = avro.reading_schema_from_text(json.dumps(evolved_schema()))
    else:
        schema = avro.bundled_schema(avro.TRACKING_EVENT)
    header = b"" if form == "schemaless" else b"\x00" + schema_id.to_bytes(4, "big")
    encoded = []
    for index, event in enumerate(e2e.EVENT_SHAPES[shape](count, seed=start)):
        event["properties"]["$event_id"] = f"bench-{uuid.uuid4().hex}"
        event["properties"]["email"] = f"customer.{start + index}@example.com"
        _groups(event, start + index)
        if form == "evolved":
            event["source_app"] = "ios"
        encoded.append(header + avro.encode(schema, event))
    return encoded


def encoded_events(total: int, shape: str, form: str, schema_id: int) -> Iterator[list[bytes]]:
    chunk = 10_000
    jobs = [
        (start, min(chunk, total - start), shape, form, schema_id)
        for start in range(0, total, chunk)
    ]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        yield from pool.imap(_encode_chunk, jobs)


def fill(bootstrap: str, total: int, shape: str, form: str, schema_id: int) -> str:
    topic = f"inputs-{form}-{uuid.uuid4().hex[:6]}"
    e2e.create_topics(bootstrap, topic)
    producer = e2e.new_producer(bootstrap)
    produced = 0
    for chunk in encoded_events(total, shape, form, schema_id):
        e2e.produce_all(producer, topic, chunk, produced)
        produced += len(chunk)
    producer.flush(120)
    return topic


def register(url: str) -> dict[str, int]:
    """Our schema and the evolved one, each under its own subject; their ids."""
    client = SchemaRegistryClient({"url": url})
    try:
        ours = client.register_schema(
            "bench-ours-value", Schema(avro.bundled_text(avro.TRACKING_EVENT), "AVRO")
        )
        evolved = client.register_schema(
            "bench-evolved-value", Schema(json.dumps(evolved_schema()), "AVRO")
        )
    finally:
        client.close()
    return {"schemaless": 0, "confluent": int(ours), "evolved": int(evolved)}


def commit() -> str:
    """The checkout's commit, `+uncommitted` when tracked files changed since."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    done = subprocess.run(  # noqa: S603 - git, fixed arguments
        [git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(  # noqa: S603 - git, fixed arguments
        [git, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=int, default=0, help="the sandbox's, in ms")
    parser.add_argument("--event-shape", choices=sorted(e2e.EVENT_SHAPES), default="typical")
    parser.add_argument("--prepare", default="auto", help="pipeline.prepare_processes")
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--tree", type=Path, help="run the connector from this checkout")
    args = parser.parse_args()
    tree = args.tree.resolve() if args.tree else None
    report: dict[str, Any] = {
        "machine": e2e.machine(),
        "settings": vars(args),
        "commit": commit() if tree is None else f"the checkout at {tree}",
        "runs": {row: [] for row in args.rows},
    }
    print(json.dumps(report["machine"]), report["commit"], flush=True)
    with (
        KafkaBroker(heap="1g") as broker,
        SchemaRegistry() as registry,
        e2e.SandboxProcess() as sandbox,
    ):
        ids = register(registry.url)
        forms = {ROWS[row][0] for row in args.rows}
        topics = {
            form: fill(broker.bootstrap, args.events, args.event_shape, form, ids[form])
            for form in sorted(forms)
        }
        print(f"produced {args.events} {args.event_shape} events to {topics}", flush=True)
        sandbox.latency(args.latency)
        for round_ in range(args.rounds):
            for row in args.rows:
                form, extra = ROWS[row]
                settings = dict(extra)
                if form != "schemaless":
                    settings["CONNECTOR_DECODE__FORMAT"] = "confluent"
                    settings["CONNECTOR_DECODE__SCHEMA_REGISTRY_URL"] = registry.url
                began = time.time()
                result = e2e.throughput(
                    broker.bootstrap,
                    topics[form],
                    sandbox.url,
                    args.events,
                    1,
                    prepare=args.prepare,
                    tree=tree,
                    **settings,
                )
                result["began"] = began
                report["runs"][row].append(result)
                print(
                    f"round {round_} {row}: {result['events_per_s']:,.0f} events/s, "
                    f"{result['cpu_us_per_event']:.1f} µs CPU, steal {result['steal']:.0%}",
                    flush=True,
                )
    summary = summarise(report["runs"])
    report["summary"] = summary
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "inputs.json").write_text(json.dumps(report, indent=2))
    print_table(report)


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Each row's medians, and their ratios to the schemaless row's (round by round too)."""
    summary: dict[str, dict[str, float]] = {}
    base = runs.get("schemaless")
    for row, rows in runs.items():
        rates = [r["events_per_s"] for r in rows]
        cpu = [r["cpu_us_per_event"] for r in rows]
        summary[row] = {"events_per_s": statistics.median(rates), "cpu_us": statistics.median(cpu)}
        if base:
            base_rate = statistics.median(r["events_per_s"] for r in base)
            base_cpu = statistics.median(r["cpu_us_per_event"] for r in base)
            summary[row]["rate_ratio"] = summary[row]["events_per_s"] / base_rate
            summary[row]["cpu_ratio"] = summary[row]["cpu_us"] / base_cpu
            pairs = list(zip(rows, base, strict=False))
            summary[row]["rate_ratio_min"] = min(
                r["events_per_s"] / b["events_per_s"] for r, b in pairs
            )
            summary[row]["rate_ratio_max"] = max(
                r["events_per_s"] / b["events_per_s"] for r, b in pairs
            )
            summary[row]["cpu_ratio_min"] = min(
                r["cpu_us_per_event"] / b["cpu_us_per_event"] for r, b in pairs
            )
            summary[row]["cpu_ratio_max"] = max(
                r["cpu_us_per_event"] / b["cpu_us_per_event"] for r, b in pairs
            )
    return summary


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"\nmachine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, "
        f"confluent-kafka {m['confluent_kafka']}; {m['date']}; commit {report['commit']}"
    )
    print(f"settings: {report['settings']}\n")
    print(
        "| row | events/s, rounds | median | x schemaless (rounds) "
        "| µs CPU an event, rounds | median | x schemaless (rounds) |"
    )
    print("|---|---|---|---|---|---|---|")
    for row, rows in report["runs"].items():
        s = report["summary"][row]
        rates = " ".join(f"{r['events_per_s']:,.0f}" for r in rows)
        cpu = " ".join(f"{r['cpu_us_per_event']:.1f}" for r in rows)
        ratio = (
            f"**{s['rate_ratio']:.2f}** ({s['rate_ratio_min']:.2f}-{s['rate_ratio_max']:.2f})"
            if "rate_ratio" in s
            else ""
        )
        cpu_ratio = (
            f"**{s['cpu_ratio']:.2f}** ({s['cpu_ratio_min']:.2f}-{s['cpu_ratio_max']:.2f})"
            if "cpu_ratio" in s
            else ""
        )
        print(
            f"| {row} | {rates} | {s['events_per_s']:,.0f} | {ratio} | {cpu} | "
            f"{s['cpu_us']:.1f} | {cpu_ratio} |"
        )


if __name__ == "__main__":
    main()
