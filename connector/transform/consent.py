"""The consent rule: from the event's consent property to what the connector does with it. Pure.

The property holds a boolean (`marketing_consent: true`) or, when `transform.consent.category`
is set, the granted categories: a list (`["analytics", "advertising"]`) or comma-separated text
(OneTrust groups `C0001,C0004`; the `C0004:1` / `C0004:0` form is read too). Categories compare
ignoring case and surrounding spaces.

- granted: the boolean is true, or the category is present;
- denied: the boolean is false, or the category is absent (or marked `:0`);
- missing: the property is absent, null or blank, or holds nothing the rule can read (a number
  other than 0/1, text that is not a boolean, a list where a boolean is expected).

Its native twin: native/src/prepare.rs `granted` (only a granted consent, and only ASCII text
under a rule by category: anything else is Python's), given `ConsentRule.category`.
"""

from __future__ import annotations

import enum

from connector.config import ConsentSettings
from connector.models import PropertyValue
from connector.transform import normalize
from connector.transform.problems import Invalid


class Consent(enum.Enum):
    GRANTED = "granted"
    DENIED = "denied"
    MISSING = "missing"


class ConsentRule:
    """Built once from `transform.consent` (whose `property` is set)."""

    def __init__(self, settings: ConsentSettings) -> None:
        if settings.property is None:
            raise ValueError("a consent rule needs transform.consent.property")
        self.property = settings.property
        self._category = None if settings.category is None else settings.category.strip().lower()
        self._actions = {Consent.DENIED: settings.on_denied, Consent.MISSING: settings.on_missing}

    @property
    def category(self) -> str | None:
        """The category as the rule compares it (stripped, lower-cased); None for a boolean."""
        return self._category

    def read(self, props: dict[str, PropertyValue]) -> Consent:
        value = props.get(self.property)
        if value is None or (isinstance(value, str) and not value.strip()):
            return Consent.MISSING
        if self._category is None:
            return _boolean(value)
        return _category(value, self._category)

    def action(self, consent: Consent) -> str:
        """`send`, `attribution_only` or `drop`."""
        return "send" if consent is Consent.GRANTED else self._actions[consent]


def _boolean(value: PropertyValue) -> Consent:
    if isinstance(value, list):
        return Consent.MISSING
    try:
        granted = normalize.flag(value)
    except Invalid:
        return Consent.MISSING
    if granted is None:
        return Consent.MISSING
    return Consent.GRANTED if granted else Consent.DENIED


def _category(value: PropertyValue, category: str) -> Consent:
    if isinstance(value, list):
        entries = value
    elif isinstance(value, str):
        entries = value.split(",")
    else:
        return Consent.MISSING
    for entry in entries:
        if not isinstance(entry, str):
            continue
        name, _, state = entry.strip().lower().partition(":")
        if name.strip() == category:
            return Consent.DENIED if state.strip() == "0" else Consent.GRANTED
    return Consent.DENIED
