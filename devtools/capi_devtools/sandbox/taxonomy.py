"""The Google Product Taxonomy ids the sandbox accepts as `content_category`: the ones of the
list the connector ships with its transform (one copy, one parser)."""

from __future__ import annotations

from functools import cache

from connector.transform.taxonomy import google_taxonomy


@cache
def taxonomy_ids() -> frozenset[str]:
    """Every category id of the shipped taxonomy."""
    return frozenset(google_taxonomy().paths_by_id)


def is_taxonomy_id(value: str, known: frozenset[str]) -> bool:
    """One of `known`, written exactly as Spotify's examples write it (ASCII digits, no padding)."""
    return value.isascii() and value.isdigit() and value in known
