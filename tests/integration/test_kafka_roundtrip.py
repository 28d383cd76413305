"""The real broker: Avro tracking events written to a topic come back equal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer

from connector.models import TrackingEvent
from connector.prepare.decode import SchemalessDecoder
from connector.schemas import avro
from tests.support.events import ALL_PROPERTIES, tracking_record

pytestmark = pytest.mark.integration


def test_avro_events_with_every_property_round_trip(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str
) -> None:
    topic = new_topic("roundtrip", partitions=2)
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    sent = [tracking_record(i) for i in range(50)]
    sent[0]["properties"]["email"] = ["a@example.com", "b@example.com"]
    sent[1]["properties"]["$event_time"] = 1_769_171_696_000
    sent[2]["timestamp"] = 1_769_171_696_123
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for index, record in enumerate(sent):
        producer.produce(topic, key=str(index).encode(), value=avro.encode(schema, record))
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    decoder = SchemalessDecoder()
    received: dict[int, TrackingEvent] = {}
    try:
        for _ in range(60):
            for message in consumer.consume(100, timeout=1):
                assert message.error() is None
                received[int(message.key() or b"-1")] = decoder.decode(message.value())
            if len(received) == len(sent):
                break
    finally:
        consumer.close()

    assert sorted(received) == list(range(len(sent)))
    for index, record in enumerate(sent):
        event = received[index]
        assert event.event == "Order Completed"
        assert event.properties == record["properties"]
        assert event.timestamp_ms == record["timestamp"]
    assert set(received[3].properties) == set(ALL_PROPERTIES)
