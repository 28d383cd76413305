"""The Google Product Taxonomy ids the sandbox accepts as `content_category`.

Read from the copy the connector ships with its transform (one copy in the repository); when
that file is absent the sandbox can only check that the value is an id's shape (decimal digits).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

TAXONOMY_PACKAGE = "connector.transform"
TAXONOMY_FILE = "data/google-product-taxonomy-with-ids.en-US.txt"


@lru_cache(maxsize=1)
def taxonomy_ids() -> frozenset[str] | None:
    """Every category id of the shipped taxonomy; None when the file is not there."""
    try:
        text = resources.files(TAXONOMY_PACKAGE).joinpath(TAXONOMY_FILE).read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    return parse_ids(text)


def parse_ids(text: str) -> frozenset[str]:
    """Ids of Google's `<id> - <path>` lines; the `#` version line and blank lines are skipped."""
    ids = set()
    for line in text.splitlines():
        head, separator, _ = line.partition(" - ")
        if separator and head.isascii() and head.isdigit():
            ids.add(head)
    return frozenset(ids)


def is_taxonomy_id(value: str, known: frozenset[str] | None) -> bool:
    """Decimal digits, and one of `known` when the taxonomy is at hand."""
    if not (value.isascii() and value.isdigit()):
        return False
    return known is None or value in known
