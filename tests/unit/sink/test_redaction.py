"""The token is masked however an endpoint or a library quotes it back."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from connector.sink.redaction import MASK, redactor

TOKEN = "tok-3f9a1c/SECRET+7e2b=x"  # characters URL and JSON encodings change


@pytest.mark.parametrize(
    "echoed",
    [
        TOKEN,
        TOKEN.upper(),
        TOKEN.lower(),
        TOKEN.swapcase(),
        quote(TOKEN, safe=""),
        quote(TOKEN, safe="").lower(),  # %2f, not %2F
        quote_plus(TOKEN),
        base64.b64encode(TOKEN.encode()).decode(),
        base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("="),
        json.dumps(TOKEN)[1:-1],
    ],
)
def test_every_form_of_the_token_is_masked(echoed: str) -> None:
    text = f"you sent Bearer {echoed}; goodbye"
    assert redactor(TOKEN)(text) == f"you sent Bearer {MASK}; goodbye"


@pytest.mark.parametrize("before", ["Bearer ", "Basic user:", "x", "xy", "xyz"])
def test_the_token_inside_longer_base64_text_is_masked(before: str) -> None:
    """A quoted `Authorization` value encoded whole: the token's own characters go."""
    encoded = base64.b64encode(f"{before}{TOKEN} and more".encode()).decode()
    masked = redactor(TOKEN)(encoded)
    assert masked.count(MASK) == 1
    # Decode with the masked characters zeroed: what is left of the token reveals none of it.
    zeroed = masked.replace(MASK, "A" * (len(encoded) - len(masked) + len(MASK)))
    decoded = base64.b64decode(zeroed)
    assert decoded.startswith(before[:-1].encode())
    assert decoded.endswith(b"and more")
    assert [part for part in ("3f9a1c", "SECRET", "7e2b") if part.encode() in decoded] == []


def test_other_text_is_left_alone_and_no_secret_masks_nothing() -> None:
    text = "HTTP 400: event_time is too old (tok-other, c2VjcmV0)"
    assert redactor(TOKEN)(text) == text
    assert redactor("")(text) == text
