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
        "".join(f"\\u{ord(char):04x}" for char in TOKEN),  # wholly JSON-escaped
        "".join(f"\\u{ord(char):04X}" for char in TOKEN),  # in upper-case hex
        "".join(f"\\u{ord(c):04x}" if i % 2 else c for i, c in enumerate(TOKEN)),  # a mixture
        TOKEN.replace("/", "\\/"),  # JSON's escaped solidus
        TOKEN.encode().hex(),
        TOKEN.encode().hex().upper(),
        base64.b64encode(TOKEN.upper().encode()).decode(),
        base64.b64encode(TOKEN.lower().encode()).decode(),
        f"{TOKEN[:9]}\n{TOKEN[9:]}",  # wrapped
        f"{TOKEN[:9]}\r\n{TOKEN[9:]}",
        f"{TOKEN[:9]}\\n{TOKEN[9:]}",  # wrapped inside a JSON text
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


def test_a_json_body_that_decodes_to_the_token_reaches_no_result() -> None:
    """What a 400 echoing the token wholly escaped looks like once it is a result's message."""
    body = json.dumps({"messages": [f"bad token {TOKEN}"]}, ensure_ascii=True)
    escaped = body.replace(TOKEN, "".join(f"\\u{ord(char):04x}" for char in TOKEN))
    assert json.loads(escaped) == json.loads(body)  # valid JSON, the token when decoded
    masked = redactor(TOKEN)(escaped)
    assert masked == json.dumps({"messages": [f"bad token {MASK}"]})
    assert TOKEN not in json.loads(masked)["messages"][0]
