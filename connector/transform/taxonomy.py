"""`content_category` → a Google Product Taxonomy id, the only form Spotify accepts.

Spotify's guide: the value "must correspond to Google's Product Taxonomy; free-form strings are
rejected with a 400 error. Omit the field if a valid taxonomy value is not available." Its
examples send the id as a string ("2271"), and so does this connector.

Accepted, in this order: a shop's own name from `transform.content_category_mapping`; an id
(text or number) that exists in the taxonomy; a full path (`Apparel & Accessories > Shoes`);
a category's own last segment (`Shoes`, unique across the taxonomy). Paths and names are
matched ignoring case and runs of spaces (also around `>`). The list ships as package data
(`data/google-product-taxonomy-with-ids.en-US.txt`, version 2021-09-21) and is read once per
process, on first use.

Its native twin: native/src/prepare.rs `prepare` (a category's id as `CategoryResolver.resolve`
taught it, for the text as sent or `#` and a number's digits).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from importlib import resources
from typing import Final

from connector.transform.normalize import too_long
from connector.transform.problems import Invalid, type_name

TAXONOMY_FILE: Final = "google-product-taxonomy-with-ids.en-US.txt"
TAXONOMY_VERSION: Final = "2021-09-21"
UNKNOWN: Final = "unknown_content_category"


class Taxonomy:
    """The categories by id, and every accepted spelling (exact and folded) → id."""

    def __init__(self, version: str, paths_by_id: Mapping[str, str]) -> None:
        self.version = version
        self.paths_by_id = dict(paths_by_id)
        self._exact: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        for category_id, path in self.paths_by_id.items():
            name = path.rpartition(" > ")[2]
            for spelling in (category_id, path, name):
                self._exact[spelling] = category_id
                self._folded[fold(spelling)] = category_id

    def find(self, text: str) -> str | None:
        """The id an id, path or last-segment name stands for; None when it is none of them."""
        found = self._exact.get(text)
        if found is not None:
            return found
        if text.isascii() and text.isdigit():  # `0166` is 166; no name is a number
            category_id = str(int(text))
            return category_id if category_id in self.paths_by_id else None
        return self._folded.get(fold(text))


def fold(text: str) -> str:
    """The key a path or name is matched by: case-folded, segments trimmed, inner space runs
    made one space: `apparel & accessories > shoes`."""
    segments = text.casefold().split(">")
    return " > ".join(" ".join(segment.split()) for segment in segments)


@cache
def google_taxonomy() -> Taxonomy:
    """The shipped taxonomy, parsed once per process (~15 ms)."""
    lines = (resources.files(__package__) / "data" / TAXONOMY_FILE).read_text("utf-8").splitlines()
    version = lines[0].partition(":")[2].strip()
    paths_by_id = {}
    for line in lines[1:]:
        category_id, _, path = line.partition(" - ")
        paths_by_id[category_id] = path
    return Taxonomy(version, paths_by_id)


class CategoryResolver:
    """A property value → the taxonomy id to send, or raise Invalid (`unknown_content_category`;
    `too_long` above `max_length` characters, which are never looked up nor cached).

    `mapping` is the shop's own names → an id, path or name of the taxonomy; a target that does
    not resolve is a ValueError here (the settings turn it into a ConfigError at load).
    """

    def __init__(
        self, mapping: Mapping[str, str], max_length: int = 256, taxonomy: Taxonomy | None = None
    ) -> None:
        self._max_length = max_length
        self._taxonomy = taxonomy or google_taxonomy()
        self._mapping: dict[str, str] = {}
        self._folded_mapping: dict[str, str] = {}
        unresolved = []
        for own, target in mapping.items():
            category_id = self._taxonomy.find(target.strip())
            if category_id is None:
                unresolved.append(own)
                continue
            self._mapping[own] = category_id
            self._folded_mapping[fold(own)] = category_id
        if unresolved:
            raise ValueError(
                "content_category_mapping: these entries map to no Google Product Taxonomy id, "
                f"path or category name: {sorted(unresolved)}"
            )
        # The id of a text up to `max_length` characters, or None: the hot path's short way
        # (blank, unknown, too long are `resolve`'s to report). A stream has few distinct
        # categories: each spelling is resolved once (bounded).
        self.known: Callable[[str], str | None] = lru_cache(maxsize=4096)(self._find_uncached)

    def resolve(self, value: object) -> str | None:
        """Text → id; an integral number → its id; blank → None. Never quotes the value."""
        if type(value) is str:
            text = value.strip()
            if not text:
                return None
            if len(text) > self._max_length:
                raise too_long(self._max_length)
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            text = str(int(value))
        elif isinstance(value, float):
            raise Invalid(UNKNOWN, "a number that is not a Google Product Taxonomy id")
        else:
            raise Invalid("invalid_type", f"expected a string or a number, got {type_name(value)}")
        found = self.known(text)
        if found is None:
            raise Invalid(
                UNKNOWN,
                "not a Google Product Taxonomy id, path or category name, nor mapped in "
                "transform.content_category_mapping",
            )
        return found

    def _find_uncached(self, raw: str) -> str | None:
        """The shop's mapping first (exact, then folded), then the taxonomy."""
        text = raw.strip()
        return (
            self._mapping.get(text)
            or self._folded_mapping.get(fold(text))
            or self._taxonomy.find(text)
        )
