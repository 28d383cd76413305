"""`demo`, the README's first command, as a user runs it: its own broker and sandbox, a summary."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from capi_devtools.commands.demo import GLOBEX_EVERY, NO_EVENT_ID_EVERY
from capi_devtools.samples import (
    CLICK_THROUGH_EVERY,
    CONSENT_DENIED_AT,
    CONSENT_EVERY,
    CONSENT_MISSING_AT,
    DEMO_EVENT_NAME_MAPPING,
    SHORT_PHONE_AT,
    SHORT_PHONE_EVERY,
    ZERO_DEVICE_AT,
    ZERO_DEVICE_EVERY,
    sample_events,
)
from connector.config import TransformSettings
from connector.results.event_ids import HINT
from connector.transform.event_names import EventNames
from tests.chart.helm import REPO_ROOT

pytestmark = pytest.mark.integration

EVENTS = 300
SKIPPED_EACH = EVENTS // 20  # one sample in twenty denies consent, one in twenty lacks it


def test_demo_settles_every_record_and_says_what_became_of_them() -> None:
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "connector", "demo", "--events", str(EVENTS), "--partitions", "2"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    rows = dict(re.findall(r"^  ([A-Z_]+) +(\d+)$", out, flags=re.MULTILINE))
    assert rows == {
        "DELIVERED": str(EVENTS - 2 * SKIPPED_EACH),
        "REJECTED_TRANSFORM": "4",
        "SKIPPED_NO_CONSENT": str(2 * SKIPPED_EACH),
        "UNDECODABLE": "1",
    }
    totals = re.findall(r"^  total +(\d+)   \(produced (\d+)\)$", out, flags=re.MULTILINE)
    assert totals == [(str(EVENTS + 5), str(EVENTS + 5))]
    assert sorted(re.findall(r"dead-lettered: (\S+) / (\S+) x(\d+)", out)) == [
        ("REJECTED_TRANSFORM", "event_time_in_future", "1"),
        ("REJECTED_TRANSFORM", "missing_amount", "1"),
        ("REJECTED_TRANSFORM", "no_user_identifier", "1"),
        ("REJECTED_TRANSFORM", "unknown_event_name", "1"),
        ("UNDECODABLE", "invalid_avro", "1"),
    ]
    assert re.findall(r"^  skipped .*$", out, flags=re.MULTILINE) == [
        f"  skipped for want of consent (not sent, not dead-lettered): {2 * SKIPPED_EACH}; "
        f"consent_denied x{SKIPPED_EACH}, consent_missing x{SKIPPED_EACH}"
    ]
    # The sandbox refuses clickID; one sample in ten carries it: those are healed, not lost.
    assert re.findall(r"^  healed .*$", out, flags=re.MULTILINE) == [
        f"  healed (delivered without a field Spotify refused): {EVENTS // 10}; "
        f"removed user_data.clickID x{EVENTS // 10}"
    ]
    # Routed by brand: one sample in four is globex's, each brand on its own connection.
    skipped = {CONSENT_DENIED_AT, CONSENT_MISSING_AT}
    sent = [i for i in range(EVENTS) if i % CONSENT_EVERY not in skipped]
    globex = sum(1 for i in sent if i % GLOBEX_EVERY == GLOBEX_EVERY - 1)
    assert re.findall(r"^  delivered by connection .*$", out, flags=re.MULTILINE) == [
        f"  delivered by connection (routed by brand): acme x{len(sent) - globex}, globex x{globex}"
    ]
    assert f"events accepted by the Spotify sandbox: {EVENTS - 2 * SKIPPED_EACH}\n" in out
    assert _match_quality_rows(out) == _expected_rows(sent)
    drops = re.findall(r"^  [A-Z_]+ +(\w+): \d+ % dropped as ([\w ]+): ", out, flags=re.MULTILINE)
    assert set(drops) == {
        ("phone", "invalid"),
        ("device_id", "placeholder"),
        ("click_id", "refused"),
    }
    # One sample in five has no $event_id: its id is derived, and the hint says what to send.
    assert _event_id_rows(out) == _expected_event_id_rows(sent)
    assert f"  derived ids: {HINT}" in out
    assert out.rstrip().endswith("stopped the connector, the sandbox and the broker")


def _match_quality_rows(out: str) -> dict[str, list[str]]:
    section = out.split("match quality (share of delivered events carrying each identifier)")[1]
    rows = re.findall(r"^  ([A-Z_]+) +(\d+)((?: +\d+ %){6})$", section, flags=re.MULTILINE)
    return {name: [count, *re.findall(r"\d+ %", shares)] for name, count, shares in rows}


def _event_id_rows(out: str) -> dict[str, list[str]]:
    section = out.split("event ids (delivered)")[1]
    rows = re.findall(r"^  ([A-Z_]+) +(\d+) +(\d+) +([\d.]+)%$", section, flags=re.MULTILINE)
    return {name: [given, derived, share] for name, given, derived, share in rows}


def _by_name(sent: list[int]) -> dict[str, list[int]]:
    """The sent samples' indexes by Spotify event name."""
    events = list(sample_events(EVENTS))
    names = EventNames(DEMO_EVENT_NAME_MAPPING, TransformSettings().event_name_aliases)
    by_name: dict[str, list[int]] = {}
    for i in sent:
        name = events[i]["properties"].get("spotify_event_name") or names.resolve(
            events[i]["event"]
        )
        by_name.setdefault(str(name), []).append(i)
    return by_name


def _expected_event_id_rows(sent: list[int]) -> dict[str, list[str]]:
    rows = {}
    for name, indexes in sorted(_by_name(sent).items()):
        derived = sum(1 for i in indexes if i % NO_EVENT_ID_EVERY == NO_EVENT_ID_EVERY - 1)
        share = f"{100 * round(derived / len(indexes), 4):.1f}"
        rows[name] = [str(len(indexes) - derived), str(derived), share]
    return rows


def _expected_rows(sent: list[int]) -> dict[str, list[str]]:
    """From the samples themselves: the sandbox refuses clickID, so no delivered event has it;
    the short phones and all-zero device ids are dropped; every event keeps e-mail and IP."""
    by_name = _by_name(sent)

    def share(count: int, total: int) -> str:
        return f"{round(count / total * 100)} %"

    rows = {}
    for name, indexes in sorted(by_name.items()):
        n = len(indexes)
        phones = sum(1 for i in indexes if i % SHORT_PHONE_EVERY != SHORT_PHONE_AT)
        devices = sum(1 for i in indexes if i % ZERO_DEVICE_EVERY != ZERO_DEVICE_AT)
        rows[name] = [str(n), "100 %", share(phones, n), "100 %", share(devices, n), "0 %", "0 %"]
    assert any(i % CLICK_THROUGH_EVERY == 0 for i in sent)  # click-throughs were sent, refused
    return rows
