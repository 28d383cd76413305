r"""Masking a secret in texts that leave the sink: answer bodies, transport errors.

A server or a library may echo the token back changed: upper-cased, URL-encoded, base64-encoded
(as in a quoted Basic header, of the token or of it upper- or lower-cased), hex-encoded, or
JSON-escaped, any of its characters written `\uXXXX`; and a line break (or a JSON-escaped one) may
fall anywhere inside, as where a text is wrapped. Every such form is masked, in any letter case.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

MASK = "**********"
_MIN_CORE_CHARS = 12  # shorter cores would mask unrelated base64 text


def secret_forms(secret: str) -> set[str]:
    """The secret as a server or a library might quote it back."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        raw.hex(),
    }
    for cased in {raw, secret.upper().encode("utf-8"), secret.lower().encode("utf-8")}:
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(cased).decode("ascii")
            forms.update((encoded, encoded.rstrip("=")))
            forms.update(_base64_cores(cased, encode))
    return {form for form in forms if form}


def _base64_cores(raw: bytes, encode: Callable[[bytes], bytes]) -> set[str]:
    """The characters that encode only the secret when it sits inside longer base64 text
    (`Bearer <token>`, `user:<password>`), at each of the three byte alignments."""
    cores = set()
    for shift in (0, 1, 2):
        encoded = encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
        head = (shift * 8 + 5) // 6  # characters touched by the bytes before the secret
        tail = 1 if (shift + len(raw)) % 3 else 0  # a last character shared with what follows
        core = encoded[head : len(encoded) - tail]
        if len(core) >= _MIN_CORE_CHARS:
            cores.add(core)
    return cores


def redactor(secret: str) -> Callable[[str], str]:
    """A function that masks every form of `secret` in a text; the identity for no secret."""
    if not secret:
        return _unchanged
    forms = sorted(secret_forms(secret), key=len, reverse=True)  # the longest form first
    pattern = re.compile("|".join(_spelled(form) for form in forms), re.IGNORECASE)

    def redact(text: str) -> str:
        return pattern.sub(MASK, text)

    return redact


# Between two characters of a form: nothing, or a line break, raw or JSON-escaped.
_BREAK = r"(?:\r?\n|\\r\\n|\\n)?"


def _spelled(form: str) -> str:
    r"""A pattern for `form` one character at a time, each as itself or JSON-escaped (`\u002f`,
    `\/`), with a line break allowed between any two."""
    return _BREAK.join(_character(char) for char in form)


def _character(char: str) -> str:
    spellings = [re.escape(char), re.escape(f"\\u{ord(char):04x}")]
    if char in '/\\"':
        spellings.append(re.escape("\\" + char))
    return f"(?:{'|'.join(spellings)})"


def _unchanged(text: str) -> str:
    return text
