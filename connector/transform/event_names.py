"""The tracking event's name → a Spotify event name.

Order: the `spotify_event_name` property (a Spotify name, strictly); then the user's
`transform.event_name_mapping` (exact key, else trimmed and case-folded); then the event's own
name when it is a Spotify name once upper-cased with `_` for spaces and hyphens (`add to cart`);
then the built-in aliases below (on unless `transform.event_name_aliases: false`), matched
ignoring case, spaces, underscores and hyphens (`Order Completed`, `order_completed`,
`OrderCompleted`). The mapping comes first so that `{"View": "PRODUCT"}` is never shadowed.

Its native twin: native/src/prepare.rs `prepare` (`spotify_event_name` as a Spotify name as is,
from the names handed over; an own name's Spotify name as `EventNames.resolve` taught it).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from connector.config import SPOTIFY_EVENT_NAMES
from connector.transform.problems import Invalid, type_name

# Names other senders use, and the Spotify name each stands for. README.md shows this table.
EVENT_NAME_ALIASES: Final[dict[str, str]] = {
    # Spotify Pixel commands
    "view": "VIEW",
    "product": "PRODUCT",
    "lead": "LEAD",
    "addtocart": "ADD_TO_CART",
    "checkout": "CHECK_OUT",
    "purchase": "PURCHASE",
    # stape-io/spotify-tag (server-side Google Tag Manager)
    "Page_View": "VIEW",
    "View_Product": "PRODUCT",
    "Lead": "LEAD",
    "Add_Cart": "ADD_TO_CART",
    "Start_Checkout": "CHECK_OUT",
    "Purchase": "PURCHASE",
    "Sign_Up": "SIGN_UP",
    "Alias": "ALIAS",
    **{f"Custom_Event_{n}": f"CUSTOM_EVENT_{n}" for n in range(1, 6)},
    # Segment e-commerce spec
    "Product Viewed": "PRODUCT",
    "Product Added": "ADD_TO_CART",
    "Checkout Started": "CHECK_OUT",
    "Order Completed": "PURCHASE",
    "Signed Up": "SIGN_UP",
}
_NAME_SEPARATORS: Final = str.maketrans(" -", "__")
_SQUASH: Final = str.maketrans("", "", "_-")
# Longer names are no Spotify name, alias or plausible mapping key; they are not cached either.
_MAX_NAME_LENGTH: Final = 256


def squash(name: str) -> str:
    """The alias key: upper-case, without spaces, underscores and hyphens."""
    return "".join(name.upper().split()).translate(_SQUASH)


_ALIASES_BY_KEY: Final = {squash(alias): name for alias, name in EVENT_NAME_ALIASES.items()}


def explicit_name(value: object) -> str | None:
    """`spotify_event_name`: a Spotify name (any case; spaces and hyphens as `_`), None when
    blank, else raise Invalid (`invalid_event_name`): a present value is never replaced."""
    if type(value) is str and value in SPOTIFY_EVENT_NAMES:  # the common case: the name as is
        return value
    if not isinstance(value, str):
        raise Invalid("invalid_event_name", f"expected a string, got {type_name(value)}")
    if not value.strip():
        return None
    name = value.strip().upper().translate(_NAME_SEPARATORS)
    if name not in SPOTIFY_EVENT_NAMES:
        raise Invalid("invalid_event_name", "not a Spotify event name")
    return name


class EventNames:
    """The event's own name → a Spotify name, or None. Built once from the settings."""

    def __init__(self, mapping: Mapping[str, str], aliases: bool) -> None:
        self._mapping = dict(mapping)
        self._folded_mapping = {key.strip().casefold(): name for key, name in mapping.items()}
        self._aliases = _ALIASES_BY_KEY if aliases else {}
        # A stream has few distinct event names: resolve each once (bounded, for odd streams).
        self._resolve = lru_cache(maxsize=4096)(self._resolve_uncached)

    def resolve(self, own_name: str) -> str | None:
        mapped = self._mapping.get(own_name)
        if mapped is not None:
            return mapped
        return self._resolve(own_name) if len(own_name) <= _MAX_NAME_LENGTH else None

    def _resolve_uncached(self, own_name: str) -> str | None:
        mapped = self._folded_mapping.get(own_name.strip().casefold())
        if mapped is not None:
            return mapped
        name = own_name.strip().upper().translate(_NAME_SEPARATORS)
        if name in SPOTIFY_EVENT_NAMES:
            return name
        return self._aliases.get(squash(own_name))
