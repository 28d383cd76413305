"""encoding.py: the body is the wrapper around the events' own bytes."""

from __future__ import annotations

import orjson

from connector.sink.encoding import BodyEncoder


def test_body_wraps_the_event_bytes_unchanged() -> None:
    events = [{"event_id": "a", "amount": 1.5}, {"event_id": "b\u00e9", "nested": {"x": [1]}}]
    payloads = [orjson.dumps(event) for event in events]
    body = BodyEncoder('conn-"quoted"').encode(payloads)
    assert orjson.loads(body) == {
        "conversion_events": {"capi_connection_id": 'conn-"quoted"', "events": events}
    }
    assert payloads[0] in body
    assert payloads[1] in body


def test_empty_batch_is_still_valid_json() -> None:
    assert orjson.loads(BodyEncoder("c").encode([])) == {
        "conversion_events": {"capi_connection_id": "c", "events": []}
    }
