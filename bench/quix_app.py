"""The connector's job written as a Quix Streams app, for the comparison in bench/end_to_end.py.

What a team would write with Quix Streams in an afternoon: Quix's Avro deserializer (fastavro,
schemaless), one `apply` mapping a tracking event to a Spotify event the simple way (SHA-256 of
the normalised e-mail and phone, the other identifiers as they are), and a `BatchingSink` that
POSTs 100 events a request, one request after another, and fails the checkpoint on any answer
but 200. Offsets are committed by Quix after the sink's flush (every `commit_interval`, 5 s by
default). No validation, no retries, no results, no dead letters.

It runs in its own virtualenv (quixstreams pins its own confluent-kafka), so it imports neither
the connector nor the devtools: the schema and the event-name mapping come as arguments.

    python bench/quix_app.py --broker HOST:PORT --topic T --group G --url URL --token TOKEN
        --connection-id ID --schema tracking_event.avsc [--event-names '{"Order Completed": ...}']

It prints `first-message <epoch seconds>` once, when the first record reaches the `apply`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import requests
from quixstreams import Application  # type: ignore[import-not-found]
from quixstreams.models.serializers.avro import AvroDeserializer  # type: ignore[import-not-found]
from quixstreams.sinks import BatchingSink, SinkBatch  # type: ignore[import-not-found]

EVENTS_PER_REQUEST = 100
# Tracking property → Spotify user_data key, sent as they are.
USER_DATA_AS_IS = {
    "$ip": "ip_address",
    "$device_id": "device_id",
    "$user_agent": "user_agent",
    "request_ip_address": "request_ip_address",
    "event_ip_address": "event_ip_address",
    "platform_id": "platform_id",
    "session_id": "session_id",
    "alias_id": "alias_id",
    "cookie1": "cookie1",
    "page_id": "page_id",
    "connection_type": "connection_type",
    "age_group": "age_group",
    "$spclid": "clickID",
}
EVENT_DETAILS_AS_IS = ("amount", "currency", "content_name", "content_category")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rfc3339(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class SpotifyEvents:
    """The `apply` step: a decoded tracking event → a Spotify event (a dict)."""

    def __init__(self, event_names: dict[str, str]) -> None:
        self._event_names = event_names
        self._first = True

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        if self._first:
            print(f"first-message {time.time()}", flush=True)
            self._first = False
        props = event["properties"]
        name = event["event"]
        when = props.get("$event_time") or event["timestamp"]
        if isinstance(when, datetime):
            when = int(when.timestamp() * 1000)
        user_data = {key: props[prop] for prop, key in USER_DATA_AS_IS.items() if props.get(prop)}
        if email := props.get("email"):
            user_data["hashed_emails"] = [sha256(email.strip().lower())]
        if phone := props.get("phone"):
            user_data["hashed_phone_number"] = sha256("".join(c for c in phone if c.isdigit()))
        return {
            "event_id": props["$event_id"],
            "event_name": props.get("spotify_event_name")
            or self._event_names.get(name)
            or name.upper().replace(" ", "_"),
            "event_time": when if isinstance(when, str) else rfc3339(when),
            "action_source": props.get("$action_source", "WEB"),
            "opt_out_targeting": props.get("opt_out_targeting", False),
            "event_source_url": props.get("event_source_url"),
            "user_data": user_data,
            "event_details": {k: props[k] for k in EVENT_DETAILS_AS_IS if k in props},
        }


class SpotifySink(BatchingSink):  # type: ignore[misc]
    """POSTs each partition's batch in requests of 100 events; anything but 200 fails it."""

    def __init__(self, url: str, token: str, connection_id: str) -> None:
        super().__init__()
        self._url = url
        self._connection_id = connection_id
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._session = requests.Session()

    def write(self, batch: SinkBatch) -> None:
        for chunk in batch.iter_chunks(n=EVENTS_PER_REQUEST):
            body = {
                "conversion_events": {
                    "capi_connection_id": self._connection_id,
                    "events": [item.value for item in chunk],
                }
            }
            answer = self._session.post(
                self._url, data=orjson.dumps(body), headers=self._headers, timeout=30
            )
            if answer.status_code != 200:
                raise RuntimeError(f"Spotify answered {answer.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--broker", "--topic", "--group", "--url", "--token", "--connection-id"):
        parser.add_argument(name, required=True)
    parser.add_argument("--schema", required=True, help="the tracking-event .avsc file")
    parser.add_argument("--event-names", default="{}", help="JSON: tracking name → Spotify name")
    args = parser.parse_args()
    app = Application(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        loglevel="WARNING",
    )
    with open(args.schema, encoding="utf-8") as schema:
        deserializer = AvroDeserializer(json.load(schema))
    topic = app.topic(args.topic, value_deserializer=deserializer)
    sdf = app.dataframe(topic)
    sdf = sdf.apply(SpotifyEvents(json.loads(args.event_names)))
    sdf.sink(SpotifySink(args.url, args.token, args.connection_id))
    app.run()


if __name__ == "__main__":
    main()
