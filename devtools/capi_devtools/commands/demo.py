"""`spotify-capi-connector demo`: the whole job on local parts, start to finish.

Starts a real Kafka broker (jars from Maven Central) and the local Spotify sandbox, creates the
topics, produces sample events (most valid, some not), runs the connector until every record is
settled, prints what became of them, and stops everything. The sandbox refuses `clickID`, as a
Spotify that will not take a field would, so the summary shows events healed: sent again
without the refused field and delivered. A consent rule on `marketing_consent` drops the samples
that deny it or lack it: the summary counts them as skipped (never sent, never dead-lettered).
Two brands share the bus: events are routed by their `brand` property to two Spotify
connections, each with its own token and connection id. Last comes `report`'s match-quality
table: the samples carry some short phones and all-zero device ids, dropped with a hint; and its
event id table: one sample in five has no `$event_id`, so its id is derived, with the hint to send
the order id (Spotify deduplicates Pixel and CAPI events only on an id both send).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

if TYPE_CHECKING:
    from connector.models import DeliveryResult

NAME = "demo"
HELP = "run the connector end to end on a local broker and the local Spotify sandbox"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=5000, help="valid sample events to produce")
    parser.add_argument("--partitions", type=int, default=3)


# librdkafka logs errors only: a broker just started makes clients warn while its coordinators
# load ("retrying"), which would only clutter the demo's output.
QUIET = {"log_level": 3}
REFUSED_KEYS = ("clickID",)  # the sample events carry it on click-through visits
# Two brands, each with its own Spotify connection: one sample event in four is globex's.
BRANDS = {
    "acme": "5f0c6d2e-8b1a-4c3e-9d7f-2a6b4e8c1d90",
    "globex": "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a",
}
GLOBEX_EVERY = 4
# One sample event in five comes from a tag that sends no $event_id: its id is derived from the
# record's coordinates, and the last table says what that means for deduplication with the Pixel.
NO_EVENT_ID_EVERY = 5


def run(args: argparse.Namespace) -> int:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    from capi_devtools.localinfra import KafkaBroker
    from capi_devtools.samples import DEMO_CONSENT, DEMO_EVENT_NAME_MAPPING
    from capi_devtools.sandbox import FaultSettings, SandboxSettings, SandboxThread
    from connector.assemble import build_pipeline
    from connector.config import (
        ConnectionSettings,
        ConsentSettings,
        KafkaSettings,
        RoutingSettings,
        Settings,
        SpotifySettings,
        TransformSettings,
    )

    say = _Printer()
    say.step("starting a local Kafka broker (first run fetches its jars with Maven)")
    connections = {
        brand: ConnectionSettings(connection_id=connection_id, token=SecretStr(f"{brand}-token"))
        for brand, connection_id in BRANDS.items()
    }
    refusing = SandboxSettings(
        faults=FaultSettings(refuse_user_data_keys=REFUSED_KEYS),
        tokens=tuple(SecretStr(f"{brand}-token") for brand in BRANDS),
        connection_ids=tuple(BRANDS.values()),
    )
    with KafkaBroker() as broker, SandboxThread(refusing) as sandbox:
        say.done(
            f"broker {broker.bootstrap} in {broker.start_seconds:.1f} s; sandbox {sandbox.url}"
            f" (refusing user_data {', '.join(REFUSED_KEYS)})"
        )
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, group_id="demo")
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, **QUIET})
        topics = [
            NewTopic(kafka.input_topic, args.partitions, 1),
            NewTopic(kafka.results_topic, 1, 1),
            NewTopic(kafka.dlq_topic, 1, 1),
        ]
        for future in admin.create_topics(topics, operation_timeout=30).values():
            future.result(timeout=30)
        del admin  # its client would keep calling the broker after the demo stops it

        say.step(f"producing {args.events} valid and a few invalid events to '{kafka.input_topic}'")
        total, invalid = _produce_samples(broker.bootstrap, kafka.input_topic, args.events)
        say.done(f"{total} records ({invalid} invalid for the transform, 1 undecodable)")

        settings = Settings(
            kafka=kafka,
            spotify=SpotifySettings(url=sandbox.url, connections=connections),
            routing=RoutingSettings(
                by="property", property="brand", routes={"globex": "globex"}, default="acme"
            ),
            transform=TransformSettings(
                event_name_mapping=DEMO_EVENT_NAME_MAPPING,
                consent=ConsentSettings.model_validate(DEMO_CONSENT),
            ),
        )
        results: list[DeliveryResult] = []
        stop = threading.Event()

        def on_results(batch: Sequence[DeliveryResult]) -> None:
            results.extend(batch)
            if len(results) >= total:
                stop.set()

        say.step("running the connector until every record is settled")
        began = time.monotonic()
        pipeline = build_pipeline(settings, on_results=on_results)
        watchdog = threading.Timer(300, stop.set)
        watchdog.start()
        pipeline.run(stop)
        watchdog.cancel()
        elapsed = time.monotonic() - began
        say.done(f"{len(results)} results in {elapsed:.1f} s ({len(results) / elapsed:,.0f}/s)")
        _summary(results, sandbox.state.stats().events_accepted, total)
    say.step("stopped the connector, the sandbox and the broker")
    return 0 if len(results) == total else 1


def _produce_samples(bootstrap: str, topic: str, events: int) -> tuple[int, int]:
    """Valid sample events, those the transform must reject, and one record that is not Avro.
    Returns (records produced, records the transform rejects)."""
    from confluent_kafka import Producer

    from capi_devtools.errors import LocalInfraError
    from capi_devtools.samples import invalid_events, sample_events
    from connector.schemas import avro

    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    values = [
        avro.encode(schema, _branded(event, i)) for i, event in enumerate(sample_events(events))
    ]
    invalid = invalid_events()
    values += [avro.encode(schema, event) for _, event in invalid]
    values.append(b"\x07 these bytes are not Avro")
    # Idempotent: a retried batch neither duplicates nor reorders the sample events.
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True, **QUIET}
    )
    for index, value in enumerate(values):
        producer.produce(topic, value=value, key=str(index).encode())
        if index % 10_000 == 0:
            producer.poll(0)
    unsent = producer.flush(60)
    producer.close()
    if unsent:
        raise LocalInfraError(f"the local broker did not take {unsent} sample events in 60 s")
    return len(values), len(invalid)


def _branded(event: dict[str, Any], index: int) -> dict[str, Any]:
    brand = "globex" if index % GLOBEX_EVERY == GLOBEX_EVERY - 1 else "acme"
    properties = {**event["properties"], "brand": brand}
    if index % NO_EVENT_ID_EVERY == NO_EVENT_ID_EVERY - 1:
        del properties["$event_id"]
    return {**event, "properties": properties}


def _summary(results: Sequence[DeliveryResult], accepted: int, total: int) -> None:
    typed = results
    by_status = Counter(r.status.value for r in typed)
    failures = Counter((r.status.value, r.error_code or "") for r in typed if r.is_failure)
    skipped = Counter(r.error_code or "" for r in typed if r.status.value == "SKIPPED_NO_CONSENT")
    print()
    print(f"  {'status':<22}{'records':>8}")
    for status, count in sorted(by_status.items()):
        print(f"  {status:<22}{count:>8}")
    print(f"  {'total':<22}{sum(by_status.values()):>8}   (produced {total})")
    print()
    for (status, code), count in sorted(failures.items()):
        print(f"  dead-lettered: {status} / {code} x{count}")
    reasons = ", ".join(f"{code} x{count}" for code, count in sorted(skipped.items()))
    print(
        f"  skipped for want of consent (not sent, not dead-lettered): {skipped.total()}"
        + (f"; {reasons}" if reasons else "")
    )
    print(_healed_line(typed))
    print(_connections_line(typed))
    print(f"  events accepted by the Spotify sandbox: {accepted}")
    print()
    print(_match_quality(typed), end="")
    print(_event_ids(typed), end="")


def _match_quality(results: Sequence[DeliveryResult]) -> str:
    """`report`'s match-quality table, from the delivered results."""
    from connector.results.match_quality import MatchQuality, render_match_quality

    quality = MatchQuality()
    for r in results:
        if r.status.value == "DELIVERED":
            quality.add(r.event_name or "(none)", r.identifiers, r.identifiers_dropped)
    return "\n".join(render_match_quality(quality.to_wire())) + "\n"


def _healed_line(results: Sequence[DeliveryResult]) -> str:
    """How many delivered events were sent again without a field Spotify refused, and which."""
    from connector.sink.heal import WARNING_CODE

    prefix = f"{WARNING_CODE}:"
    removed = [
        [warning.removeprefix(prefix) for warning in r.warnings if warning.startswith(prefix)]
        for r in results
    ]
    healed = sum(1 for fields in removed if fields)
    by_field = Counter(field for fields in removed for field in fields)
    fields = ", ".join(f"{field} x{count}" for field, count in sorted(by_field.items()))
    return f"  healed (delivered without a field Spotify refused): {healed}" + (
        f"; removed {fields}" if fields else ""
    )


def _connections_line(results: Sequence[DeliveryResult]) -> str:
    """Delivered events by the Spotify connection that took them."""
    delivered = Counter(r.connection for r in results if r.status.value == "DELIVERED")
    by_name = ", ".join(f"{name} x{count}" for name, count in sorted(delivered.items()))
    return f"  delivered by connection (routed by brand): {by_name}"


class _Printer:
    def __init__(self) -> None:
        self._began = time.monotonic()

    def step(self, text: str) -> None:
        print(f"[{time.monotonic() - self._began:6.1f}s] {text}", flush=True)

    def done(self, text: str) -> None:
        print(f"          -> {text}", flush=True)


def _event_ids(results: Sequence[DeliveryResult]) -> str:
    """`report`'s deduplication readiness: the derived event id share per event name."""
    from connector.results.event_ids import (
        EventIdSources,
        event_id_source,
        render_event_id_sources,
    )

    sources = EventIdSources()
    for r in results:
        if r.status.value == "DELIVERED":
            sources.add(r.event_name or "(none)", event_id_source(r.coordinates, r.event_id))
    return "\n".join(render_event_id_sources(sources.to_wire())) + "\n"
