"""SHA-256 of normalised identifiers, and recognising values that arrive already hashed.

A value that already is 64 hex characters is taken as hashed: it is lower-cased, not hashed again.

Its native twin: native/src/ids.rs `sha256_hex`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

_SHA256_HEX: Final = re.compile(r"[0-9A-Fa-f]{64}")


def is_sha256_hex(text: str) -> bool:
    """True for 64 hex characters: the sender hashed the value already."""
    return len(text) == 64 and _SHA256_HEX.fullmatch(text) is not None


def sha256_hex(normalised: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 bytes of an already normalised value."""
    return hashlib.sha256(normalised.encode()).hexdigest()
