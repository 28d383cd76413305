"""Healing end to end: a Spotify that refuses `clickID` still gets every event once, without it.

Real broker, the sandbox over HTTP refusing `user_data.clickID`: each event carrying `$spclid` is
bisected out, sent again without clickID and delivered; its result says what was removed.
"""

from __future__ import annotations

from collections import Counter

import pytest

from capi_devtools.sandbox import FaultSettings, SandboxSettings, SandboxThread
from tests.support.connector import ConnectorThread, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import (
    committed_and_end_offsets,
    connector_topics,
    produce_events,
    read_all,
    read_results,
)

pytestmark = pytest.mark.integration

TOTAL = 240
REMOVED = "spotify_400_removed:"


@pytest.mark.parametrize(
    "category",
    [
        "187",
        # The transform turns a taxonomy path into its id ("187"); without that the sandbox
        # refuses the path too and the results also name event_details.content_category.
        "Apparel & Accessories > Shoes",
    ],
    ids=["taxonomy-id", "taxonomy-path"],
)
def test_events_spotify_refuses_a_field_of_are_delivered_once_without_it(
    kafka_bootstrap: str, category: str
) -> None:
    topic = connector_topics(kafka_bootstrap, partitions=2)
    records = []
    for i in range(TOTAL):
        record = tracking_record(i, content_category=category)
        if i % 4 == 0:
            del record["properties"]["$spclid"]  # not every visit comes from a Spotify ad click
        records.append(record)
    clicked = {r["properties"]["$event_id"] for r in records if "$spclid" in r["properties"]}
    produce_events(kafka_bootstrap, topic, records, partitions=2)
    refuse = SandboxSettings(faults=FaultSettings(refuse_user_data_keys=("clickID",)))
    with SandboxThread(refuse) as sandbox:
        settings = connector_settings(kafka_bootstrap, topic, sandbox.url)
        with ConnectorThread(settings) as connector:
            connector.wait_for_results(TOTAL)
        accepted = sandbox.state.accepted_ids()
        bodies = [sandbox.state.body(event_id) or {} for event_id in accepted]

    ids = {r["properties"]["$event_id"] for r in records}
    assert len(clicked) == TOTAL * 3 // 4
    assert accepted == dict.fromkeys(ids, 1)  # each event accepted exactly once
    assert all("clickID" not in body["user_data"] for body in bodies)
    assert {body["event_details"]["content_category"] for body in bodies} == {"187"}
    results = read_results(kafka_bootstrap, f"{topic}-results", TOTAL)
    assert len(results) == TOTAL
    assert Counter(r["status"] for r in results) == {"DELIVERED": TOTAL}
    removed = {
        r["event_id"]: [w.removeprefix(REMOVED) for w in r["warnings"] if w.startswith(REMOVED)]
        for r in results
    }
    assert {event_id for event_id, fields in removed.items() if fields} == clicked
    assert {tuple(fields) for fields in removed.values() if fields} == {("user_data.clickID",)}
    assert read_all(kafka_bootstrap, f"{topic}-dlq", 0, timeout_s=2) == []
    committed, ends = committed_and_end_offsets(kafka_bootstrap, settings.kafka.group_id, topic, 2)
    assert committed == ends
    assert sum(ends) == TOTAL
