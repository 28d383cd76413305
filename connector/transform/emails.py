"""The `email` property → SHA-256 hashes of the addresses it holds.

An address is trimmed and lower-cased, nothing else (no dot or plus-tag removal: the contract's
decision). As users really write them:
- `John Doe <john@example.com>`, `"Doe, John" <john@example.com>` and `mailto:john@example.com`
  are reduced to the address;
- a list property, or text with `,` or `;` between addresses, holds several (a separator inside
  a quoted display name or `<...>` does not split);
- invisible characters (zero-width, BOM, no-break space, soft hyphen) are removed and the text
  put in Unicode NFC before lower-casing, so the same address always gives the same hash.
What is then not exactly one plausible address (`john @example.com`, `a@b@c`, no `@`, longer
than 254 characters) is dropped with the warning `invalid_email`; a placeholder (`undefined`,
`null`, `0`, empty, or the SHA-256 of one of them) with `placeholder_identifier`. Neither is
hashed. A value that already is 64 hex characters is taken as hashed: lower-cased, not hashed
again.

Its native twin: native/src/ids.rs `email_hash` (the first branch of `email_hashes`: one plain
ASCII address), with `is_plain_address` for `_PLAIN`.
"""

from __future__ import annotations

import re
from hashlib import sha256
from typing import Final

from connector.transform.hashing import is_sha256_hex
from connector.transform.normalize import PLACEHOLDER, PLACEHOLDER_WORDS, is_placeholder, visible
from connector.transform.problems import Invalid, type_name

INVALID: Final = "invalid_email"
MAX_ADDRESS_LENGTH: Final = 254  # RFC 5321: the longest forward-path is 256 with its angle brackets
# One `@` with text on both sides, and nothing that needs the slow path: whitespace, list
# separators, display-name, comment or URI syntax.
_PLAIN: Final = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")
# A list item: quoted text and <...> are kept whole; a stray `"` or `<` is just a character.
_ITEM: Final = re.compile(r'(?:"[^"]*"|<[^>]*>|[^,;"<]|["<])+')
_ANGLE_ADDRESS: Final = re.compile(r"[^<]*<([^<>]*)>")
_MAILTO: Final = "mailto:"
# Senders that hash before sending sometimes hash a placeholder; such a hash identifies no one.
_HASHED_PLACEHOLDERS: Final = frozenset(
    sha256(word.encode()).hexdigest() for word in (*PLACEHOLDER_WORDS, "", "0")
)


def email_hashes(value: object) -> tuple[list[str], tuple[str, ...]]:
    """(hashes in first-seen order without repeats, warning codes of what was dropped)."""
    if type(value) is str:
        address = value.strip().lower()
        if (
            value.isascii()  # so no invisible character, and already NFC
            and len(address) <= MAX_ADDRESS_LENGTH
            and _PLAIN.fullmatch(address) is not None
        ):  # the common case: one plain address
            return [sha256(address.encode()).hexdigest()], ()
        entries: list[str] | list[object] = [value]
    elif isinstance(value, list):
        entries = value
    elif value is None:
        return [], ()
    else:
        raise Invalid("invalid_type", f"expected a string or a list, got {type_name(value)}")
    hashes: list[str] = []
    problems: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            _add_entry(entry, hashes, problems)
        else:
            problems.append(INVALID)
    if len(hashes) > 1:
        hashes = list(dict.fromkeys(hashes))  # repeats out, first-seen order kept
    return hashes, tuple(dict.fromkeys(problems))


def _add_entry(entry: str, hashes: list[str], problems: list[str]) -> None:
    text = visible(entry).strip()
    if is_placeholder(text):
        problems.append(PLACEHOLDER)
        return
    for item in _ITEM.findall(text):
        candidate = item.strip()
        if not candidate:  # `a@x.com, ` : a trailing separator is no value
            continue
        digest, problem = _digest(candidate)
        if digest is not None:
            hashes.append(digest)
        else:
            problems.append(problem)


def _digest(item: str) -> tuple[str | None, str]:
    """(the hash of one list item, "") or (None, the warning code)."""
    lowered = item.lower()
    if is_placeholder(lowered):
        return None, PLACEHOLDER
    if len(lowered) == 64 and is_sha256_hex(lowered):  # hashed by the sender already
        return (None, PLACEHOLDER) if lowered in _HASHED_PLACEHOLDERS else (lowered, "")
    if lowered.startswith(_MAILTO):
        lowered = lowered[len(_MAILTO) :].partition("?")[0].strip()
    elif (angle := _ANGLE_ADDRESS.fullmatch(lowered)) is not None:
        lowered = angle.group(1).strip()
    if len(lowered) > MAX_ADDRESS_LENGTH or _PLAIN.fullmatch(lowered) is None:
        return None, INVALID
    return sha256(lowered.encode()).hexdigest(), ""
