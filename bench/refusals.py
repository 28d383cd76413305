"""Learned refusals and the request-rate cap, as users run the connector (issue 29's figures).

On a real broker and a strict sandbox in its own process (full validation) that answers 400 to
any event carrying `user_data.clickID`, with the same events every time (every property of the
table, and `$spclid` on every one):
  refused, learned   the defaults: the field is learned once and left out up front
  refused, healing   `sink.learn_refusals: false`: every event bisected out and healed alone
  accepted           the sandbox takes clickID: the speed the refusal must not cost
  capped             accepted, `sink.max_requests_per_second: 20`, batches of 20: the busiest
                     second at the sandbox, and memory by tenth of the run
Each row: events/s (first poll to last commit), requests and requests an event at the sandbox,
events delivered and dead-lettered, CPU an event, peak memory.

    .venv/bin/python -m bench.refusals [--events 30000] [--rounds 2] [--skip-capped]
        [--rows learned healing accepted]
    .venv/bin/python -m bench.refusals --strip-cost   # the sink's strip alone, µs an event

Results go to bench/out/refusals.json.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from confluent_kafka import Producer

from bench.end_to_end import (
    OUT,
    SandboxProcess,
    create_topics,
    end_offsets,
    machine,
    new_producer,
    produce_all,
    throughput,
)
from capi_devtools.localinfra import KafkaBroker
from capi_devtools.samples import sample_events
from capi_devtools.sandbox import SandboxAdmin
from connector.config import Settings
from connector.models import SourceCoordinates
from connector.prepare.preparer import Preparer, Ready
from connector.schemas import avro
from connector.sink import NullObserver, SinkItem
from connector.sink.encoding import BodyEncoder
from connector.sink.learned import LearnedRefusals, RefusalBook
from connector.sink.transport import Answer

REFUSED = {"refuse_user_data_keys": ["clickID"]}
ACCEPTED: dict[str, Any] = {"refuse_user_data_keys": []}


def clicked_topic(bootstrap: str, total: int) -> str:
    """A topic of `total` full events, each a click-through visit (it carries `$spclid`)."""
    topic = f"refusals-{int(time.time())}"
    create_topics(bootstrap, topic)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    producer: Producer = new_producer(bootstrap)
    values = []
    for index, event in enumerate(sample_events(total, seed=29)):
        event["properties"]["$spclid"] = f"spclid-{index:x}"
        values.append(avro.encode(schema, event))
    produce_all(producer, topic, values)
    assert producer.flush(120) == 0
    return topic


def run_row(
    bootstrap: str,
    topic: str,
    sandbox: SandboxProcess,
    total: int,
    faults: dict[str, Any],
    **env: str,
) -> dict[str, Any]:
    admin = SandboxAdmin(sandbox.admin)
    admin.configure(validation="full", faults=faults)
    admin.reset()
    row = throughput(bootstrap, topic, sandbox.url, total, 1, prepare="auto", tree=None, **env)
    stats = admin.stats()
    dead = sum(end_offsets(bootstrap, f"{row.pop('results_topic')}-dlq"))
    return {
        **row,
        "requests": stats.requests_total,
        "requests_per_event": stats.requests_total / total,
        "requests_by_status": stats.requests_by_status,
        "busiest_second": stats.busiest_second,
        "delivered": stats.unique_event_ids,
        "dead_lettered": dead,
    }


def strip_cost(events: int = 2000, rounds: int = 10) -> dict[str, float]:
    """µs an event for `LearnedRefusals.outgoing` (the body's encoding included) over prepared
    sample events in batches of 100: nothing learned, and clickID learned."""
    settings = Settings()
    preparer = Preparer(settings.decode, settings.transform, settings.routing)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    records = []
    for index, event in enumerate(sample_events(events, seed=29)):
        event["properties"]["$spclid"] = f"spclid-{index:x}"
        records.append((avro.encode(schema, event), SourceCoordinates("t", 0, index, None)))
    prepared = preparer.submit(records, 1_767_225_700_000).result()
    items = [SinkItem(r, r.event_id, r.payload) for r in prepared if isinstance(r, Ready)]
    batches = [items[i : i + 100] for i in range(0, len(items), 100)]
    encode = BodyEncoder("bench").encode

    def per_event(learned: LearnedRefusals) -> float:
        began = time.perf_counter()
        for _ in range(rounds):
            for batch in batches:
                learned.outgoing(batch, 1, encode)
        return (time.perf_counter() - began) / rounds / len(items) * 1e6

    def refusals() -> LearnedRefusals:
        return LearnedRefusals("bench", RefusalBook(1, 60_000, 600_000), NullObserver(), 60)

    learned = refusals()
    click = Answer(400, "", None, None, named_fields=("user_data.clickID",))
    learned.refused(items[:1], click, (), 0)
    return {"nothing_learned_us": per_event(refusals()), "click_id_learned_us": per_event(learned)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--capped-events", type=int, default=30_000)
    parser.add_argument(
        "--rounds", type=int, default=1, help="each row this many times, alternated"
    )
    parser.add_argument("--skip-capped", action="store_true")
    parser.add_argument(
        "--strip-cost", action="store_true", help="only time the sink's strip, no broker"
    )
    parser.add_argument(
        "--rows", nargs="*", default=["learned", "healing", "accepted"],
        choices=["learned", "healing", "accepted"], help="the uncapped rows to run",
    )  # fmt: skip
    args = parser.parse_args()
    if args.strip_cost:
        print(json.dumps(strip_cost()))
        return
    report: dict[str, Any] = {"machine": machine(), "settings": vars(args), "rows": []}
    print(json.dumps(report["machine"]), flush=True)
    rows = {
        "refused, learned": (REFUSED, {}),
        "refused, healing": (REFUSED, {"CONNECTOR_SINK__LEARN_REFUSALS": "false"}),
        "accepted": (ACCEPTED, {}),
    }
    by_word = {name.rpartition(" ")[2]: name for name in rows}
    rows = {by_word[word]: rows[by_word[word]] for word in args.rows}  # in the order asked
    with KafkaBroker(heap="1g") as broker, SandboxProcess() as sandbox:
        bootstrap = broker.bootstrap
        topic = clicked_topic(bootstrap, args.events)
        for round_ in range(args.rounds):
            for name, (faults, env) in rows.items():
                row = run_row(bootstrap, topic, sandbox, args.events, faults, **env)
                report["rows"].append({"row": name, "round": round_, **row})
                print(name, json.dumps(row), flush=True)
        if not args.skip_capped:
            capped = run_row(
                bootstrap,
                topic,
                sandbox,
                args.events,
                ACCEPTED,
                CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND="20",
                CONNECTOR_SINK__BATCH_SIZE="20",
            )
            report["rows"].append({"row": "capped 20/s, batches of 20", "round": 0, **capped})
            print("capped", json.dumps(capped), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "refusals.json").write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores; Python {m['python']}; {m['date']}")
    print(f"settings: {report['settings']}\n")
    print(
        "| row | events/s | requests (an event) | 400s | delivered | dead-lettered | "
        "CPU µs/event | peak RSS MB (by tenth) | busiest second |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in report["rows"]:
        tenths = ", ".join(f"{mb:.0f}" for mb in r["peak_rss_mb_by_tenth"])
        print(
            f"| {r['row']} | {r['events_per_s']:,.0f} | {r['requests']:,} "
            f"({r['requests_per_event']:.3f}) | {r['requests_by_status'].get('400', 0):,} | "
            f"{r['delivered']:,} | {r['dead_lettered']:,} | {r['cpu_us_per_event']:.0f} | "
            f"{r['peak_rss_mb']:.0f} ({tenths}) | {r['busiest_second']} |"
        )


if __name__ == "__main__":
    main()
