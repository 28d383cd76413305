"""Phone numbers → E.164, the form Spotify hashes.

Validity rule (one rule, whatever way the number was written): after parsing, the national
significant number must fit its country's numbering plan as the `phonenumbers` metadata describes
it — the general national-number pattern and one of the possible lengths. That is
libphonenumber's own plan check minus the split into number types (fixed line, mobile, ...):
the type check costs ~40 µs per number in pure Python and rejects numbers in ranges newer than
the installed metadata, while a number in an unassigned range only yields a hash Spotify does
not match (harmless). So `+1 555 123 4567` is accepted, `+1 123 456 7890` is not.

Two paths:
- fast: text that is already E.164 once spaces, dashes, dots and parentheses are removed
  (`+` then digits) is checked against the metadata directly, a few µs, no parsing;
- slow: anything else (national formats, `00` prefixes, `(0)` trunk digits, extensions) goes
  through `phonenumbers.parse` with the default region, cached per (text, region) in a bounded
  LRU cache because tracking streams repeat the same user's number often.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from connector.transform.problems import Invalid

_FORMATTING = str.maketrans("", "", " -.()\u00a0\t")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PARSE_CACHE_SIZE = 65_536


def to_e164(text: str, default_region: str) -> str:
    """`+<country code><national number>`, or raise Invalid."""
    compact = text.translate(_FORMATTING)
    if _E164.fullmatch(compact) is not None and _plausible_e164(compact):
        return compact
    parsed = _parse(text.strip(), default_region.upper())
    if parsed is None:
        raise Invalid("invalid_phone", "not a valid phone number for its country")
    return parsed


def _plausible_e164(e164: str) -> bool:
    # Country calling codes are prefix-free, so the first match of 1, 2 or 3 digits is the one.
    for split in (2, 3, 4):
        plans = _plans_for(int(e164[1:split]))
        if plans:
            national = e164[split:]
            return any(
                len(national) in lengths and pattern.fullmatch(national) is not None
                for pattern, lengths in plans
            )
    return False


@cache  # bounded by the ~250 country calling codes
def _plans_for(country_code: int) -> tuple[tuple[re.Pattern[str], frozenset[int]], ...]:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    plans = []
    for region in regions:
        if region == "001":  # non-geographic (+800, +882, ...)
            metadata = PhoneMetadata.metadata_for_nongeo_region(country_code)
        else:
            metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.general_desc is None:
            continue
        general = metadata.general_desc
        if general.national_number_pattern is None:
            continue
        plans.append(
            (re.compile(general.national_number_pattern), frozenset(general.possible_length))
        )
    return tuple(plans)


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if _E164.fullmatch(e164) is None or not _plausible_e164(e164):
        return None
    return str(e164)
