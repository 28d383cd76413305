"""End-to-end benchmark: the connector as users run it, on a real broker and the sandbox.

In one run, on one machine:
  (a) decode-only rate: a plain confluent-kafka consumer + fastavro, nothing else;
  (b) the connector's throughput into the sandbox, first poll → last offset committed, with
      sandbox latency 0 ms and 50 ms, with one process as configured by default
      (`pipeline.prepare_processes: auto`: one prepare process on 2 CPUs), one process that
      decodes and transforms in its Kafka thread (`prepare_processes: 0`), and
      `run --workers 2`; and a
      Quix Streams app doing the same job (bench/quix_app.py, in its own virtualenv);
  (c) p50/p99 latency, produce → Spotify acknowledgement, at a steady offered load;
  (d) the connector's peak resident memory while it works off a backlog (two backlog sizes).

    .venv/bin/python -m bench.end_to_end [--events 200000] [--backlog 1000000]
        [--shapes 1:auto 1:0 2:auto quix] [--latencies 0 50] [--event-shape full|typical]
        [--skip a b c d]

The sandbox runs in its own process with light validation and no kept bodies, so that it
measures the connector rather than the emulator. Results go to bench/out/end_to_end.json.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from capi_devtools.localinfra import KafkaBroker, cache_dir
from capi_devtools.samples import DEMO_EVENT_NAME_MAPPING, sample_events, typical_events
from capi_devtools.sandbox import DEFAULT_CONNECTION_ID, DEFAULT_TOKEN, SandboxAdmin
from connector.schemas import avro

PARTITIONS = 4
# (b) runs each shape: `WORKERS:PREPARE` (`run --workers`, `pipeline.prepare_processes`: a
# count or `auto`, the default) or `quix` (bench/quix_app.py).
THROUGHPUT_SHAPES = ("1:auto", "1:0", "2:auto", "quix")
QUIX = "quix"
# The Quix app's own virtualenv (quixstreams pins its own confluent-kafka), under the cache.
QUIX_PINS = ("quixstreams==3.28.1", "fastavro==1.13.1", "orjson==3.13.0", "requests==2.34.2")
OUT = Path("bench/out")
# --event-shape: every property of the table set, or a typical web event (see samples.py).
EVENT_SHAPES = {"full": sample_events, "typical": typical_events}


# --- sample data ----------------------------------------------------------------------------


def _encode_chunk(job: tuple[int, int, bool, str]) -> list[bytes]:
    start, count, with_time, shape = job
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    encoded = []
    for index, event in enumerate(EVENT_SHAPES[shape](count, seed=start)):
        event["properties"]["$event_id"] = f"bench-{uuid.uuid4().hex}"
        if not with_time:  # the event time becomes the Kafka timestamp: the produce time
            del event["properties"]["$event_time"]
            event["timestamp"] = None
        event["properties"]["email"] = f"customer.{start + index}@example.com"
        encoded.append(avro.encode(schema, event))
    return encoded


def encoded_events(
    total: int, *, with_time: bool = True, shape: str = "full"
) -> Iterator[list[bytes]]:
    """Realistic events of the given shape, encoded on every core, in chunks."""
    chunk = 10_000
    jobs = [
        (start, min(chunk, total - start), with_time, shape) for start in range(0, total, chunk)
    ]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        yield from pool.imap(_encode_chunk, jobs)


def new_producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )


def produce_all(producer: Producer, topic: str, values: list[bytes], start: int = 0) -> None:
    for index, value in enumerate(values, start):
        while True:
            try:
                producer.produce(topic, value=value, partition=index % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    producer.poll(0)


def fill_topic(bootstrap: str, prefix: str, total: int, shape: str) -> str:
    """A new topic holding `total` events of `shape`, all acknowledged; its name."""
    topic = f"{prefix}-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, topic)
    producer = new_producer(bootstrap)
    produced = 0
    for chunk in encoded_events(total, shape=shape):
        produce_all(producer, topic, chunk, produced)
        produced += len(chunk)
    producer.flush(120)
    return topic


def create_topics(bootstrap: str, *names: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names], operation_timeout=30)
    for future in futures.values():
        future.result(30)


def end_offsets(bootstrap: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-probe"})
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
    finally:
        consumer.close()


# --- (a) decode only ------------------------------------------------------------------------


def decode_only(bootstrap: str, topic: str, total: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"decode-only-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    seen, began = 0, 0.0
    try:
        while seen < total:
            messages = consumer.consume(1000, timeout=1.0)
            if messages and not began:
                began = time.monotonic()
            for message in messages:
                fastavro.schemaless_reader(io.BytesIO(message.value() or b""), schema, None)
            seen += len(messages)
        return total / (time.monotonic() - began)
    finally:
        consumer.close()


# --- the connector, as users run it ---------------------------------------------------------


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    group: str
    results_topic: str
    peak_rss_mb: float = 0.0
    rss_samples: list[float] = field(default_factory=list)
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)  # (wall s, CPU s)


def start_connector(
    bootstrap: str,
    topic: str,
    sandbox_url: str,
    workers: int,
    *,
    tree: Path | None = None,
    **extra: str,
) -> Run:
    """`run` in its own process; with `tree`, from that checkout (say, an older commit's)."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    results = f"{topic}-results-{group}"
    create_topics(bootstrap, results, f"{results}-dlq")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CONNECTOR_INPUT_TOPIC": topic,
        "CONNECTOR_GROUP_ID": group,
        "CONNECTOR_RESULTS_TOPIC": results,
        "CONNECTOR_DLQ_TOPIC": f"{results}-dlq",
        "SPOTIFY_CAPI_URL": sandbox_url,
        "SPOTIFY_CAPI_TOKEN": DEFAULT_TOKEN,
        "SPOTIFY_CAPI_CONNECTION_ID": DEFAULT_CONNECTION_ID,
        "CONNECTOR_TRANSFORM__EVENT_NAME_MAPPING": json.dumps(DEMO_EVENT_NAME_MAPPING),
        "CONNECTOR_TELEMETRY__HEALTH_PORT": "0",
        "CONNECTOR_TELEMETRY__LOG_LEVEL": "WARNING",
        **extra,
    }
    if tree is not None:  # `-m` puts the working directory first on the path
        env["PYTHONPATH"] = str(tree)
    command = [sys.executable, "-m", "connector", "run", "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, cwd=tree, stdin=subprocess.DEVNULL)  # noqa: S603
    return Run(process, group, results)


def committed(consumer: Consumer, topic: str) -> list[int]:
    """The group's committed offsets, asked through a consumer of that group that never joins."""
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return [max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10)]
    except confluent_kafka.KafkaException:
        return [-1] * PARTITIONS  # the coordinator moved: ask again next time


def _family(pid: int) -> list[int]:
    """A process and its children (the workers, the prepare processes)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return pids


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0.0
    for one in _family(pid):
        status = Path(f"/proc/{one}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def cpu_s(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children, in seconds."""
    ticks = 0
    for one in _family(pid):
        stat = Path(f"/proc/{one}/stat")
        if stat.exists():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def steal_share(before: list[int], after: list[int]) -> float:
    """The share of the machine's CPU time the hypervisor gave to other guests in between."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(1, sum(spent[:8]))  # user nice system idle iowait irq softirq steal


def cpu_times() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def _cpu_at(samples: list[tuple[float, float]], when: float) -> float:
    """The CPU time at wall time `when`, interpolated between the samples around it."""
    before = max((s for s in samples if s[0] <= when), default=samples[0])
    after = min((s for s in samples if s[0] >= when), default=samples[-1])
    if after[0] == before[0]:
        return before[1]
    share = (when - before[0]) / (after[0] - before[0])
    return before[1] + share * (after[1] - before[1])


def wait_until_committed(bootstrap: str, run: Run, topic: str, ends: list[int]) -> float:
    """Wall-clock time when the last offset was committed, to within ~0.05 s (one consumer asks
    throughout: making one for each question took ~65 ms); samples memory and CPU on the way."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": run.group})
    try:
        while True:
            if run.process.poll() is not None:
                raise RuntimeError(f"the process under test exited with {run.process.returncode}")
            run.rss_samples.append(rss_mb(run.process.pid))
            run.cpu_samples.append((time.time(), cpu_s(run.process.pid)))
            if committed(consumer, topic) == ends:
                return time.time()
            time.sleep(0.05)
    finally:
        consumer.close()


def stop(run: Run) -> None:
    run.peak_rss_mb = max(run.rss_samples, default=0.0)
    run.process.terminate()
    run.process.wait(120)


def result_records(
    bootstrap: str, topic: str, limit: int | None = None, *, tree: Path | None = None
) -> list[dict[str, Any]]:
    """The results written to `topic` (by the connector of `tree`, in its own schema)."""
    if tree is None:
        schema = avro.bundled_schema(avro.DELIVERY_RESULT)
    else:
        text = (tree / "connector" / "schemas" / "delivery_result.avsc").read_text()
        schema = fastavro.parse_schema(json.loads(text))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex[:6]}"})
    ends = end_offsets(bootstrap, topic)
    wanted = ends if limit is None else [min(e, limit) for e in ends]
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    records: list[dict[str, Any]] = []
    try:
        while len(records) < sum(wanted):
            records.extend(
                avro.decode(schema, m.value() or b"")
                for m in consumer.consume(1000, timeout=2.0)
                if (m.offset() or 0) < wanted[m.partition() or 0]
            )
    finally:
        consumer.close()
    return records


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


def throughput(
    bootstrap: str,
    topic: str,
    sandbox_url: str,
    total: int,
    workers: int,
    *,
    prepare: str,
    tree: Path | None = None,
    **settings: str,
) -> dict[str, Any]:
    """A (b) row; `settings` are more environment variables for the connector (they may set
    the prepare processes too), `tree` a checkout to run it from."""
    ends = end_offsets(bootstrap, topic)
    settings = {"CONNECTOR_PIPELINE__PREPARE_PROCESSES": prepare, **settings}
    run = start_connector(bootstrap, topic, sandbox_url, workers, tree=tree, **settings)
    done, steal = _until_committed(bootstrap, run, topic, ends)
    # The first poll: the earliest `received_at` among the first results of every partition.
    records = result_records(bootstrap, run.results_topic, 200, tree=tree)
    first = min(_ms(r["received_at"]) for r in records)
    return {**_rates(run, total, first / 1000, done, steal), "results_topic": run.results_topic}


def _until_committed(bootstrap: str, run: Run, topic: str, ends: list[int]) -> tuple[float, float]:
    """(when the last offset was committed, the steal share meanwhile); then stops the run."""
    machine_before = cpu_times()
    try:
        done = wait_until_committed(bootstrap, run, topic, ends)
    finally:
        stop(run)
    return done, steal_share(machine_before, cpu_times())


def _peaks_by_tenth(samples: list[float]) -> list[float]:
    """The peak of each tenth of the run's memory samples: flat, or growing with the backlog."""
    size = max(1, -(-len(samples) // 10))  # rounded up: at most ten parts, none left out
    return [round(max(samples[i : i + size]), 1) for i in range(0, len(samples), size)]


def _rates(run: Run, total: int, first: float, done: float, steal: float) -> dict[str, Any]:
    elapsed = done - first
    cpu = _cpu_at(run.cpu_samples, done) - _cpu_at(run.cpu_samples, first)
    return {
        "events_per_s": total / elapsed,
        "seconds": elapsed,
        "peak_rss_mb": run.peak_rss_mb,
        "peak_rss_mb_by_tenth": _peaks_by_tenth(run.rss_samples),
        "cpu_us_per_event": cpu / total * 1e6,
        "steal": steal,
    }


# --- the same job as a Quix Streams app (bench/quix_app.py) ---------------------------------


def quix_python() -> Path:
    """The Python of the Quix app's virtualenv, made (or remade on a change of pins) here."""
    venv = cache_dir() / "quix-venv"
    python = venv / "bin" / "python"
    marker = venv / "bench-pins.txt"
    pins = "\n".join(QUIX_PINS)
    if not (python.exists() and marker.exists() and marker.read_text() == pins):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        install = [str(python), "-m", "pip", "install", "-q", *QUIX_PINS]
        subprocess.run(install, check=True)  # noqa: S603
        marker.write_text(pins)
    return python


def start_quix(bootstrap: str, topic: str, sandbox_url: str) -> Run:
    python = quix_python()
    schema = python.parent.parent / "tracking_event.avsc"
    schema.write_text(avro.bundled_text(avro.TRACKING_EVENT))
    group = f"bench-quix-{uuid.uuid4().hex[:8]}"
    command = [
        str(python),
        str(Path(__file__).with_name("quix_app.py")),
        *("--broker", bootstrap, "--topic", topic, "--group", group, "--url", sandbox_url),
        *("--token", DEFAULT_TOKEN, "--connection-id", DEFAULT_CONNECTION_ID),
        *("--schema", str(schema), "--event-names", json.dumps(DEMO_EVENT_NAME_MAPPING)),
    ]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)  # noqa: S603
    return Run(process, group, results_topic="")


def quix_throughput(bootstrap: str, topic: str, sandbox_url: str, total: int) -> dict[str, Any]:
    """As `throughput`, from the app's first record (the `first-message` line it prints)."""
    ends = end_offsets(bootstrap, topic)
    run = start_quix(bootstrap, topic, sandbox_url)
    done, steal = _until_committed(bootstrap, run, topic, ends)
    printed = run.process.stdout.read().decode() if run.process.stdout else ""
    first = next(
        float(line.split()[1]) for line in printed.splitlines() if line.startswith("first-message")
    )
    return _rates(run, total, first, done, steal)


def latency(
    bootstrap: str, sandbox_url: str, rate: int, seconds: int, workers: int, *, shape: str
) -> dict[str, Any]:
    """Offer `rate` events/s for `seconds` to a running connector; produce → ack percentiles."""
    topic = f"latency-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, topic)
    total = rate * seconds
    values = [v for chunk in encoded_events(total, with_time=False, shape=shape) for v in chunk]
    run = start_connector(bootstrap, topic, sandbox_url, workers, CONNECTOR_SINK__LINGER_MS="20")
    time.sleep(5 + 10 * (workers - 1))  # let every worker join the group before the clock starts
    producer = new_producer(bootstrap)
    began = time.monotonic()
    tick = 0.05
    per_tick = int(rate * tick)
    for step, start in enumerate(range(0, total, per_tick)):
        produce_all(producer, topic, values[start : start + per_tick], start)
        pause = began + (step + 1) * tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    producer.flush(60)
    offered = total / (time.monotonic() - began)
    try:
        wait_until_committed(bootstrap, run, topic, end_offsets(bootstrap, topic))
    finally:
        stop(run)
    delays = sorted(
        _ms(r["settled_at"]) - _ms(r["event_time"])
        for r in result_records(bootstrap, run.results_topic)
    )
    return {
        "offered_per_s": offered,
        "p50_ms": delays[len(delays) // 2],
        "p99_ms": delays[int(len(delays) * 0.99)],
        "max_ms": delays[-1],
        "events": len(delays),
        "workers": workers,
    }


def memory(bootstrap: str, sandbox_url: str, backlog: int, shape: str) -> dict[str, Any]:
    topic = fill_topic(bootstrap, "backlog", backlog, shape)
    result = throughput(bootstrap, topic, sandbox_url, backlog, workers=1, prepare="auto")
    return {"backlog": backlog, **result}


# --- the sandbox in its own process ---------------------------------------------------------


class SandboxProcess:
    def __enter__(self) -> SandboxProcess:
        command = [
            sys.executable,
            "-m",
            "connector",
            "sandbox",
            "--port",
            "0",
            "--validation",
            "light",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
        words = (self.process.stdout.readline() if self.process.stdout else "").split()
        self.url, self.admin = words[3], words[5]
        SandboxAdmin(self.admin).configure(keep_bodies=False)
        return self

    def latency(self, ms: float) -> None:
        SandboxAdmin(self.admin).configure(faults={"latency_ms": ms})

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        self.process.wait(30)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "fastavro": fastavro.__version__,
        "kafka": "4.4.0 (single KRaft node, loopback)",
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--backlog", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--rate-seconds", type=int, default=30)
    parser.add_argument("--latency-workers", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["a", "b", "c", "d"])
    parser.add_argument(
        "--shapes",
        nargs="*",
        default=list(THROUGHPUT_SHAPES),
        help="(b) rows: WORKERS:PREPARE for the connector, or quix",
    )
    parser.add_argument("--latencies", nargs="*", type=int, default=[0, 50], help="(b), in ms")
    parser.add_argument(
        "--event-shape",
        choices=sorted(EVENT_SHAPES),
        default="full",
        help="full: every property of the table (~690 bytes); typical: a web event (~350)",
    )
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "settings": vars(args)}
    print(json.dumps(report["machine"]), flush=True)
    with KafkaBroker(heap="1g") as broker, SandboxProcess() as sandbox:
        bootstrap = broker.bootstrap
        topic = fill_topic(bootstrap, "bench", args.events, args.event_shape)
        print(f"produced {args.events} {args.event_shape} events to {topic}", flush=True)
        decode_runs: list[float] = []
        if "a" not in args.skip:
            decode_runs.append(decode_only(bootstrap, topic, args.events))
            print("(a)", decode_runs[-1], flush=True)
        if "b" not in args.skip:
            for latency_ms in args.latencies:
                sandbox.latency(latency_ms)
                for shape in args.shapes:
                    key = f"b_latency_{latency_ms}ms_{_shape_name(shape)}"
                    if key in report:  # a shape given twice: keep both rows
                        key += f"_run_{sum(k.startswith(key) for k in report) + 1}"
                    if shape == QUIX:
                        report[key] = quix_throughput(bootstrap, topic, sandbox.url, args.events)
                    else:
                        count, prepare = shape.split(":")
                        workers = int(count)
                        report[key] = throughput(
                            bootstrap, topic, sandbox.url, args.events, workers, prepare=prepare
                        )
                    if "a" not in args.skip:
                        # (a) again right after: the machine's speed drifts between minutes,
                        # so each row is compared with the (a) measured next to it.
                        decode_runs.append(decode_only(bootstrap, topic, args.events))
                        report[key]["a_next_per_s"] = decode_runs[-1]
                    print(f"({key})", report[key], flush=True)
            sandbox.latency(0)
        if decode_runs:
            report["a_decode_only_per_s"] = statistics.median(decode_runs)
            report["a_decode_only_runs"] = decode_runs
        if "c" not in args.skip:
            report["c_latency"] = latency(
                bootstrap,
                sandbox.url,
                args.rate,
                args.rate_seconds,
                args.latency_workers,
                shape=args.event_shape,
            )
            print("(c)", report["c_latency"], flush=True)
        if "d" not in args.skip:
            report["d_memory"] = [
                memory(bootstrap, sandbox.url, size, args.event_shape)
                for size in (args.backlog // 4, args.backlog)
            ]
            print("(d)", report["d_memory"], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "end_to_end.json").write_text(json.dumps(report, indent=2))
    print_table(report)


def _shape_name(shape: str) -> str:
    if shape == QUIX:
        return QUIX
    workers, prepare = shape.split(":")
    return f"workers_{workers}_prepare_{prepare}"


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"\nmachine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, "
        f"confluent-kafka {m['confluent_kafka']} (librdkafka {m['librdkafka']}), "
        f"fastavro {m['fastavro']}, Kafka {m['kafka']}; {m['date']}"
    )
    print(f"settings: {report['settings']}\n")
    print("| measure | value |\n|---|---|")
    decode = report.get("a_decode_only_per_s")
    if decode:
        print(f"| (a) decode-only | {decode:,.0f} events/s |")
    runs = report.get("a_decode_only_runs", [])
    if len(runs) > 1:
        print(f"| (a) runs, first to last | {', '.join(f'{r:,.0f}' for r in runs)} events/s |")
    for key, value in report.items():
        if key.startswith("b_"):
            beside = value.get("a_next_per_s")
            ratio = f" ({value['events_per_s'] / beside:.2f} x the (a) after it)" if beside else ""
            print(
                f"| ({key}) | {value['events_per_s']:,.0f} events/s{ratio}, "
                f"{value['cpu_us_per_event']:.0f} µs CPU/event, "
                f"steal {value['steal']:.0%}, peak RSS {value['peak_rss_mb']:.0f} MB |"
            )
    for key, value in report.items():
        latency_ms = key.removeprefix("b_latency_").split("_", 1)[0]
        quix = report.get(f"b_latency_{latency_ms}_{QUIX}")
        if key.startswith("b_") and f"_{QUIX}" not in key and quix:
            print(
                f"| ({key}) / Quix at {latency_ms} | "
                f"{value['events_per_s'] / quix['events_per_s']:.2f} x |"
            )
    if "c_latency" in report:
        c = report["c_latency"]
        print(
            f"| (c) latency at {c['offered_per_s']:,.0f} events/s offered, "
            f"{c['workers']} worker(s) | "
            f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, max {c['max_ms']} ms |"
        )
    for d in report.get("d_memory", []):
        print(
            f"| (d) backlog {d['backlog']:,} | peak RSS {d['peak_rss_mb']:.0f} MB, "
            f"{d['events_per_s']:,.0f} events/s; peak by tenth of the run "
            f"{', '.join(f'{mb:.0f}' for mb in d['peak_rss_mb_by_tenth'])} MB |"
        )


if __name__ == "__main__":
    main()
