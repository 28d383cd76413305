"""The Kafka thread's CPU time for results: Spotify's answers in → result records written and
acknowledged by a real broker, offsets settled, telemetry counted (the step `run` takes for every
event after the sink). No HTTP: the answers are made here, 100 an answer, all DELIVERED.

    .venv/bin/python -m bench.result_path [--events 50000] [--rounds 3] [--bootstrap HOST:PORT]

`--bootstrap` uses a broker already running (say, to alternate two checkouts on one broker)
instead of starting one.

Prints the thread CPU time per result (`time.thread_time`, so neighbours' load moves it less
than wall time). bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections import deque

from pydantic import SecretStr

from bench.end_to_end import _encode_chunk, create_topics
from capi_devtools.localinfra import KafkaBroker
from capi_devtools.samples import DEMO_EVENT_NAME_MAPPING
from capi_devtools.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN
from connector.config import KafkaSettings, Settings, SpotifySettings, TransformSettings
from connector.kafka.results import ResultWriter
from connector.models import SourceCoordinates, SourceRecord
from connector.observe.telemetry import Telemetry
from connector.offsets import PartitionOffsets
from connector.pipeline import Pending, Pipeline
from connector.prepare.choice import choose
from connector.prepare.preparer import Preparer, Ready
from connector.results.formats import result_format
from connector.sink import SendOutcome, SendStatus, SinkItem
from tests.support.pipeline_doubles import MemorySink, ScriptedSource, SinkByHand

ANSWER = 100  # events a Spotify answer
TURN = 5  # answers the Kafka thread finds waiting at a turn of its loop


def settings_for(bootstrap: str, prefix: str) -> Settings:
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap,
            input_topic=f"{prefix}-in",
            results_topic=f"{prefix}-results",
            dlq_topic=f"{prefix}-dlq",
        ),
        spotify=SpotifySettings(
            url="http://127.0.0.1:1",
            token=SecretStr(DEFAULT_TOKEN),
            connection_id=DEFAULT_CONNECTION_ID,
        ),
        transform=TransformSettings(event_name_mapping=DEMO_EVENT_NAME_MAPPING),
    )


def answers(settings: Settings, offsets: PartitionOffsets, total: int) -> list[list[SendOutcome]]:
    """`total` prepared events, tracked in `offsets`, answered DELIVERED in groups of ANSWER."""
    values = _encode_chunk((0, min(total, 5000), True, "full"))
    preparer = Preparer(settings.decode, settings.transform, settings.routing)
    now = time.time_ns() // 1_000_000
    out: list[list[SendOutcome]] = []
    for start in range(0, total, ANSWER):
        envelopes = [
            SourceRecord(
                SourceCoordinates(offsets.topic, 0, offset, now - 1000),
                None,
                values[offset % len(values)],
                (),
                now - 500,
            )
            for offset in range(start, min(start + ANSWER, total))
        ]
        prepared = preparer.prepare([(e.value, e.coordinates) for e in envelopes], now)
        answer = []
        for envelope, ready in zip(envelopes, prepared, strict=True):
            assert isinstance(ready, Ready)
            offsets.track(envelope.coordinates.offset)
            item = SinkItem(Pending(envelope, offsets, ready), ready.event_id, ready.payload)
            status = SendStatus.DELIVERED
            answer.append(SendOutcome(item, status, 200, None, None, 1, f"trace-{start}", now))
        out.append(answer)
    return out


def measure(bootstrap: str, total: int) -> float:
    prefix = f"result-path-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, f"{prefix}-results", f"{prefix}-dlq")
    settings = settings_for(bootstrap, prefix)
    telemetry = Telemetry(settings)
    writer = ResultWriter(settings.kafka, *result_format(settings.kafka, settings.decode))
    sink = MemorySink()
    source = ScriptedSource(deque(), threading.Event())
    pipeline = Pipeline(
        settings,
        source=source,
        writer=writer,
        sink_factory=sink.factory,
        prepare=choose(settings),
        on_results=telemetry.on_results,
    )
    by_hand = pipeline._sink = SinkByHand()  # type: ignore[assignment]  # the steps by hand
    # The pipeline's own Kafka-thread steps for results, driven directly (no source, no sink).
    offsets = pipeline.checkpoint.book.assign(settings.kafka.input_topic, 0)
    pending = answers(settings, offsets, total)
    writer.write_batch([], lambda: None)  # connect and fetch metadata before the clock starts
    writer.flush(30)
    began = time.thread_time()
    for turn in range(0, len(pending), TURN):
        for answer in pending[turn : turn + TURN]:
            by_hand.queued.extend(answer)
        pipeline._collect_outcomes()
        writer.poll()
    while offsets.unsettled:
        writer.poll(0.001)
    cpu = time.thread_time() - began
    writer.close()
    assert pipeline.status.settled_by_status == {"DELIVERED": total}
    return cpu / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bootstrap", help="a running broker to use instead of starting one")
    args = parser.parse_args()
    if args.bootstrap:
        rounds(args.bootstrap, args.events, args.rounds)
        return
    with KafkaBroker(heap="1g") as broker:
        rounds(broker.bootstrap, args.events, args.rounds)


def rounds(bootstrap: str, events: int, count: int) -> None:
    for _ in range(count):
        cpu_us = measure(bootstrap, events)
        print(f"result path: {cpu_us:.1f} µs of Kafka-thread CPU a result")


if __name__ == "__main__":
    main()
