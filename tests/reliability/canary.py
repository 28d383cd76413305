"""Canary PII and secrets: values the security tests send through the connector, then look for
in every text it leaves behind (logs, metrics, results, dead-letter headers). None may appear.
Also the local TLS material those tests share.

The dead-letter *value* is the original record and holds the PII by design (docs/security.md);
only its headers are searched.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from capi_devtools.localinfra.tls import TlsMaterial, make_tls_material
from tests.support.events import tracking_record

CANARY_EMAIL = "Canary.Leak+zq7@canary-mail.example"
CANARY_PHONE = "+1 415 555 0187"  # valid: it is hashed and sent
CANARY_BAD_PHONE = "canary-phone-0187"  # unparseable: dropped with a warning
CANARY_TOKEN = "capi-canary-token-5d1e7f0a9b"
CANARY_PASSWORD = "scram-canary-password-8c2e"

# Fragments that would betray a leak however a value was normalised.
_FRAGMENTS = ("canary", "zq7", "4155550187", "555 0187", "5d1e7f0a9b", "8c2e")


def canary_records(count: int, *, first: int = 0) -> list[dict[str, Any]]:
    """Events carrying the canaries: most deliverable, every fifth refused by the transform."""
    records = []
    for i in range(first, first + count):
        if i % 5 == 4:  # no usable identifier: the email has no @, the phone does not parse
            records.append(
                tracking_record(
                    i, email="canary-without-at", phone=CANARY_BAD_PHONE, **{"$ip": None},
                    **{"$device_id": None},
                )
            )  # fmt: skip
        else:
            phone = CANARY_PHONE if i % 2 else CANARY_BAD_PHONE
            records.append(tracking_record(i, email=CANARY_EMAIL, phone=phone))
    return records


def refused_indexes(count: int, *, first: int = 0) -> set[int]:
    return {i for i in range(first, first + count) if i % 5 == 4}


def leaks(text: str | bytes) -> list[str]:
    """The canary fragments found in a text (case-insensitive); [] when it is clean."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lowered = text.lower()
    return [fragment for fragment in _FRAGMENTS if fragment in lowered]


@cache
def shared_tls() -> TlsMaterial:
    """One local CA and server certificate per test process (keytool is slow to start)."""
    folder = Path(tempfile.mkdtemp(prefix="capi-tls-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return make_tls_material(folder)
