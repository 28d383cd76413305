"""The connector's own process, per record, in CPU time: the Python steps around Spotify's answer
that the prepare processes (`pipeline.prepare_processes`) cannot take. No broker, no HTTP.

    .venv/bin/python -m bench.main_process [--rounds 7]

- `source records`: `kafka.source.source_record` for a fetched message (the Kafka thread);
- `take prepared`: `Pipeline._take_prepared` for prepared batches of Readies: each record's
  `Pending` and `SinkItem` (the Kafka thread; the items are not handed to a sink here);
- `batch spans off` / `batch spans on`: `BatchSpans` for a polled batch of 1,000 records, half of
  them with a `traceparent` header: the span started with its links, its context taken and the
  span ended, without a tracer provider (tracing off: what every run pays) and with one (its
  spans handed to an exporter that drops them);
- `sink outcomes`: `SpotifySink._emit` for an answer of 100 items (the HTTP thread);
- `sent_result`: one `DeliveryResult` from an answer (the Kafka thread);
- `write batch`: `ResultWriter.write_batch` for TURN answers of delivered results: encoded and
  handed to librdkafka, whose broker is unreachable (the records wait in its queue, purged after
  each round; its I/O threads are not measured, `time.thread_time`);
- `batch acks`: `BatchAck.result_acked`, the delivery callback librdkafka calls for every result
  record in the producer's poll (without librdkafka's own part);
- `on results`: `Telemetry.on_results` for a batch of TURN answers of delivered results;
- `collect`: `Pipeline._collect_outcomes` for five answers of 100, results stored in memory and
  made durable at once, telemetry counted (the Kafka thread, without librdkafka).

The collector is set as `run` sets it (connector.process.gc_tuning), before each timed loop.
Prints each step's median of the rounds in ns a record (`time.process_time`); bench/README.md
has the figures. `bench/result_path.py` measures the Kafka thread's part with a real broker.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from confluent_kafka import Message
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from pydantic import SecretStr

from capi_devtools.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN
from connector.config import KafkaSettings, Settings, SinkSettings, SpotifySettings
from connector.kafka.results import BatchAck, ResultWriter
from connector.kafka.source import source_record
from connector.models import Identifiers, SourceCoordinates, SourceRecord
from connector.observe.telemetry import Telemetry
from connector.observe.tracing import BatchSpans
from connector.offsets import PartitionOffsets
from connector.pipeline import Pending, Pipeline
from connector.ports import ResultEntry
from connector.prepare.choice import choose
from connector.prepare.preparer import DoneBatch, Ready
from connector.process.gc_tuning import tune_for_streaming
from connector.results.codec import encode_result
from connector.results.delivery import sent_result
from connector.results.formats import AVRO_CONTENT_TYPE
from connector.sink import SendOutcome, SendStatus, SinkItem, SpotifySink
from connector.sink.spotify_sink import _Batch
from tests.support.pipeline_doubles import MemorySink, ScriptedSource, SinkByHand

AVRO = (encode_result, AVRO_CONTENT_TYPE)  # the default results format

ANSWER = 100  # items a Spotify answer
TURN = 5  # answers a turn of the Kafka thread's loop
NOW_MS = 1_767_225_900_000


class DurableAtOnce:
    """A result store whose every batch is durable as soon as it is written."""

    def write_batch(self, entries: Sequence[ResultEntry], on_durable: Callable[[], None]) -> None:
        on_durable()

    def poll(self, timeout_s: float = 0.0) -> None:
        pass

    def flush(self, timeout_s: float) -> int:
        return 0

    def close(self) -> None:
        pass


def settings() -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", input_topic="in"),
        spotify=SpotifySettings(
            url="http://127.0.0.1:1",
            token=SecretStr(DEFAULT_TOKEN),
            connection_id=DEFAULT_CONNECTION_ID,
        ),
    )


def ready(n: int) -> Ready:
    identifiers = Identifiers(("email", "ip_address", "device_id"), 1, ())
    return Ready(f"event-{n}", "PURCHASE", NOW_MS - 60_000, b"{}", (), "default", identifiers)


def envelope(n: int) -> SourceRecord:
    return SourceRecord(SourceCoordinates("in", 0, n, NOW_MS - 1000), None, b"", (), NOW_MS - 500)


def answer(items: Sequence[SinkItem], n: int) -> list[SendOutcome]:
    return [
        SendOutcome(item, SendStatus.DELIVERED, 200, None, None, 1, f"trace-{n}", NOW_MS)
        for item in items
    ]


def _ns_a_record(rounds: int, records: int, one_round: Callable[[], object]) -> list[float]:
    """CPU ns a record of `one_round()`, which handles `records` records, each of `rounds`."""
    out = []
    for _ in range(rounds):
        tune_for_streaming()
        began = time.process_time()
        one_round()
        out.append((time.process_time() - began) / records * 1e9)
    return out


def source_records(rounds: int) -> list[float]:
    """ns a record of turning a fetched message into a SourceRecord (no headers, as most)."""
    messages = [
        Message("in", 0, n, None, b"x" * 350, None, None, (1, NOW_MS - 1000)) for n in range(ANSWER)
    ]
    repeats = 2_000

    def one_round() -> None:
        for _ in range(repeats):
            for message in messages:
                source_record(message, NOW_MS)

    return _ns_a_record(rounds, repeats * ANSWER, one_round)


def batch_spans(rounds: int, *, on: bool) -> list[float]:
    """ns a record of a polled batch's span: started with its links, its context taken, ended."""
    provider = None
    if on:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_Dropped()))
    spans = BatchSpans(provider, settings())
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
    polled = [
        envelope(n)._replace(headers=(("traceparent", traceparent),) if n % 2 else ())
        for n in range(1000)
    ]

    def one_round() -> None:
        for _ in range(20):
            span = spans.start(polled)
            spans.context(span)
            spans.end(span)

    return _ns_a_record(rounds, 20 * len(polled), one_round)


class _Dropped(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def take_prepared(rounds: int) -> list[float]:
    """ns a record of turning prepared Readies into the sink's items."""
    s = settings()
    pipeline = Pipeline(
        s,
        source=ScriptedSource(deque(), threading.Event()),
        writer=DurableAtOnce(),
        sink_factory=MemorySink().factory,
        prepare=choose(s),
    )
    pipeline._sink = SinkByHand()  # type: ignore[assignment]  # the steps by hand
    batches = 200
    out = []
    for r in range(rounds):
        offsets = pipeline.checkpoint.book.assign("in", r)
        for start in range(0, batches * TURN * ANSWER, TURN * ANSWER):
            records = [envelope(n) for n in range(start, start + TURN * ANSWER)]
            for record in records:
                offsets.track(record.coordinates.offset)
            done = DoneBatch([ready(n) for n in range(start, start + TURN * ANSWER)])
            pipeline._preparing.append((done, [(record, offsets) for record in records], None))
        tune_for_streaming()
        began = time.process_time()
        pipeline._take_prepared(keep=0)
        out.append((time.process_time() - began) / (batches * TURN * ANSWER) * 1e9)
    return out


def sink_outcomes(rounds: int) -> list[float]:
    """ns an item of `_emit` for an answer of ANSWER items (its callback does nothing)."""
    sink = SpotifySink(settings().spotify, SinkSettings(), lambda _outcomes: None)
    items = tuple(SinkItem(None, f"event-{n}", b"{}") for n in range(ANSWER))
    repeats = 2_000
    batch = _Batch(items, b"", requests=1)

    def one_round() -> None:
        for _ in range(repeats):
            sink._emit(batch, SendStatus.DELIVERED, http_status=200, sp_trace_id="trace")

    return _ns_a_record(rounds, repeats * ANSWER, one_round)


def sent_results(rounds: int) -> list[float]:
    records = [(envelope(n), ready(n)) for n in range(ANSWER)]
    items = [SinkItem(None, r.event_id, r.payload) for _, r in records]
    outcomes = answer(items, 0)
    pairs = list(zip(records, outcomes, strict=True))
    repeats = 2_000

    def one_round() -> None:
        for _ in range(repeats):
            for (e, r), outcome in pairs:
                sent_result(e.coordinates, e, r, outcome)

    return _ns_a_record(rounds, repeats * ANSWER, one_round)


def write_batch(rounds: int) -> list[float]:
    """ns a record of writing a batch of results (this thread only)."""
    writer = ResultWriter(settings().kafka, *AVRO)
    entries = []
    for n in range(TURN * ANSWER):
        e, r = envelope(n), ready(n)
        outcome = answer([SinkItem(None, r.event_id, r.payload)], n)[0]
        entries.append((sent_result(e.coordinates, e, r, outcome), e, "spotify"))
    repeats = 100
    out = []
    try:
        for _ in range(rounds):
            tune_for_streaming()
            began = time.thread_time()
            for _ in range(repeats):
                writer.write_batch(entries, lambda: None)
            out.append((time.thread_time() - began) / (repeats * len(entries)) * 1e9)
            writer._producer.purge()  # their callbacks see _PURGE_QUEUE: not a bench failure
            writer._producer.poll(0)
    finally:
        writer.close()
    return out


def batch_acks(rounds: int) -> list[float]:
    """ns a record of the delivery callback, batches of TURN answers."""
    size = TURN * ANSWER
    message = Message("results", 0, 0, None, b"", None, None, (1, NOW_MS))
    repeats = 400
    durable = []
    out = []
    for _ in range(rounds):
        acks = [BatchAck(size + 1, lambda: durable.append(1), _refused) for _ in range(repeats)]
        tune_for_streaming()
        began = time.process_time()
        for ack in acks:
            acked = ack.result_acked
            for _ in range(size):
                acked(None, message)
            ack.release()
        out.append((time.process_time() - began) / (repeats * size) * 1e9)
    assert len(durable) == rounds * repeats
    return out


def _refused(role: str, error: object) -> None:
    raise AssertionError(f"a {role} record refused in the bench: {error}")


def on_results(rounds: int) -> list[float]:
    """ns a result of the telemetry's count of a settled batch."""
    telemetry = Telemetry(settings())
    results = []
    for n in range(TURN * ANSWER):
        e, r = envelope(n), ready(n)
        outcome = answer([SinkItem(None, r.event_id, r.payload)], n)[0]
        results.append(sent_result(e.coordinates, e, r, outcome))
    repeats = 400

    def one_round() -> None:
        for _ in range(repeats):
            telemetry.on_results(results)

    return _ns_a_record(rounds, repeats * len(results), one_round)


def collect(rounds: int) -> list[float]:
    s = settings()
    telemetry = Telemetry(s)
    sink = MemorySink()
    pipeline = Pipeline(
        s,
        source=ScriptedSource(deque(), threading.Event()),
        writer=DurableAtOnce(),
        sink_factory=sink.factory,
        prepare=choose(s),
        on_results=telemetry.on_results,
    )
    by_hand = pipeline._sink = SinkByHand()  # type: ignore[assignment]  # the steps by hand
    turns = 200
    out = []
    for r in range(rounds):
        offsets: PartitionOffsets = pipeline.checkpoint.book.assign("in", r)
        pending: list[list[SendOutcome]] = []
        for start in range(0, turns * TURN * ANSWER, ANSWER):
            items = []
            for n in range(start, start + ANSWER):
                offsets.track(n)
                item_ready = ready(n)
                pending_record = Pending(envelope(n), offsets, item_ready)
                items.append(SinkItem(pending_record, item_ready.event_id, item_ready.payload))
            pending.append(answer(items, start))
        tune_for_streaming()  # as `run` does; the inputs built above are then left out of GC
        began = time.process_time()
        for turn in range(0, len(pending), TURN):
            for outcomes in pending[turn : turn + TURN]:
                by_hand.queued.extend(outcomes)
            pipeline._collect_outcomes()
        out.append((time.process_time() - began) / (turns * TURN * ANSWER) * 1e9)
        assert offsets.unsettled == 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for name, step in (
        ("source records", source_records),
        ("take prepared", take_prepared),
        ("batch spans off", lambda rounds: batch_spans(rounds, on=False)),
        ("batch spans on", lambda rounds: batch_spans(rounds, on=True)),
        ("sink outcomes", sink_outcomes),
        ("sent_result", sent_results),
        ("write batch", write_batch),
        ("batch acks", batch_acks),
        ("on results", on_results),
        ("collect", collect),
    ):
        figures = step(args.rounds)
        rounds = " ".join(f"{f:.0f}" for f in figures)
        print(f"{name}: median {statistics.median(figures):.0f} ns a record (rounds: {rounds})")


if __name__ == "__main__":
    main()
