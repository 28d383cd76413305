"""`demo`, the README's first command, as a user runs it: its own broker and sandbox, a summary."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from capi_devtools.commands.demo import GLOBEX_EVERY
from capi_devtools.samples import CONSENT_DENIED_AT, CONSENT_EVERY, CONSENT_MISSING_AT
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
    assert out.rstrip().endswith("stopped the connector, the sandbox and the broker")
