"""Phone numbers → E.164, the form Spotify hashes.

Validity rule (one rule, whatever way the number was written): after parsing, the national
significant number must fit its country's numbering plan as the `phonenumbers` metadata describes
it — the general national-number pattern and one of the possible lengths. That is
libphonenumber's own plan check minus the split into number types (fixed line, mobile, ...):
the type check is slow in pure Python (bench/README.md) and rejects numbers in ranges newer than
the installed metadata, while a number in an unassigned range only yields a hash Spotify does
not match (harmless). So `+1 555 123 4567` is accepted, `+1 123 456 7890` is not.

Three paths, fastest first; each fast path either gives phonenumbers' answer or steps aside
(tests/unit/transform/test_phone.py checks them against phonenumbers.parse):
- E.164: text that is `+` and digits once spaces, dashes, dots and parentheses are removed is
  checked against the metadata directly, no parsing;
- national: digits only, in a default region whose national-prefix rule neither rewrites the
  number nor carries a carrier code (US, CA, GB, DE, FR, IN, IT, ES, NL, MX and most others;
  not BR, AR, AU, JP): the national prefix is stripped the way phonenumbers strips it (only when
  what remains fits the plan) and the country code put in front;
- anything else (`00`/`011` prefixes, `(0)` trunk digits, letters, extensions, other regions)
  goes through `phonenumbers.parse` (the slow path), cached per (text, region) in a bounded LRU
  cache because tracking streams repeat the same user's number often.

Its native twin: native/src/ids.rs `PhonePlans` (`e164` and `plausible`: the E.164 path), from
the plans `plan_texts` hands over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import PhoneMetadata

from connector.transform.problems import Invalid

_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_PARSE_CACHE_SIZE: Final = 65_536


def to_e164(text: str, default_region: str) -> str:
    """`+<country code><national number>`, or raise Invalid. `default_region`: upper-case ISO."""
    # Spaces (any kind), dashes, dots and parentheses out; str.translate is 3x slower here.
    compact = "".join(text.split()).replace("-", "").replace(".", "")
    compact = compact.replace("(", "").replace(")", "")
    if _E164.fullmatch(compact) is not None and _plausible_e164(compact):
        return compact
    if compact.isdigit() and compact.isascii():
        national = _from_national(compact, default_region)
        if national is not None:
            return national
    parsed = _parse(text.strip(), default_region)
    if parsed is None:
        raise Invalid("invalid_phone", "not a valid phone number for its country")
    return parsed


def _plausible_e164(e164: str) -> bool:
    # Country calling codes are prefix-free, so the first match of 1, 2 or 3 digits is the one.
    for split in (2, 3, 4):
        calling_code = e164[1:split]
        plans = _PLANS.get(calling_code)
        if plans is None:
            plans = _PLANS[calling_code] = _plans_for(int(calling_code))
        if plans:
            national = e164[split:]
            for pattern, lengths in plans:
                if len(national) in lengths and pattern.fullmatch(national) is not None:
                    return True
            return False
    return False


_Plans = tuple[tuple[re.Pattern[str], frozenset[int]], ...]
# Calling code text → its plans. At most 1,110 keys (1 to 3 digits); filled on first use.
_PLANS: Final[dict[str, _Plans]] = {}


def _plans_for(country_code: int) -> _Plans:
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


def _from_national(digits: str, region: str) -> str | None:
    """E.164 of a national number of `region`, or None to leave it to phonenumbers."""
    rule = _national_rule(region)
    if rule is None or rule.international_prefix.match(digits) is not None:
        return None
    for national in rule.candidates(digits):
        if len(national) in rule.lengths and rule.pattern.fullmatch(national) is not None:
            # It fits the region's own plan, so also its calling code's: only the length
            # E.164 allows (7 to 15 digits, as `_E164` says) is left to check.
            e164 = f"+{rule.country_code}{national}"
            return e164 if 8 <= len(e164) <= 16 else None
    return None


@dataclass(frozen=True, slots=True)
class _NationalRule:
    country_code: int
    national_prefix: re.Pattern[str] | None  # None when the region has none
    international_prefix: re.Pattern[str]
    pattern: re.Pattern[str]
    lengths: frozenset[int]

    def candidates(self, digits: str) -> tuple[str, ...]:
        # phonenumbers strips the prefix only when the rest fits the plan; else keeps it.
        if self.national_prefix is not None:
            prefix = self.national_prefix.match(digits)
            if prefix is not None and prefix.end():
                return (digits[prefix.end() :], digits)
        return (digits,)


@lru_cache(maxsize=512)
def _national_rule(region: str) -> _NationalRule | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None or metadata.country_code is None:
        return None
    prefix = (
        re.compile(metadata.national_prefix_for_parsing)
        if metadata.national_prefix_for_parsing
        else None
    )
    if metadata.national_prefix_transform_rule is not None or (prefix and prefix.groups):
        return None  # prefixes that rewrite the number or carry a carrier code: phonenumbers'
    general = metadata.general_desc
    if general.national_number_pattern is None or metadata.international_prefix is None:
        return None
    return _NationalRule(
        country_code=metadata.country_code,
        national_prefix=prefix,
        international_prefix=re.compile(metadata.international_prefix),
        pattern=re.compile(general.national_number_pattern),
        lengths=frozenset(general.possible_length),
    )


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


def plan_texts() -> list[tuple[str, list[tuple[str, list[int]]]]]:
    """Every calling code's plans as text (pattern, possible lengths): what `_plausible_e164`
    checks, for the native prepare path (connector/prepare/native.py) to check the same."""
    texts = []
    for country_code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        plans = _plans_for(country_code)
        if plans:
            texts.append(
                (
                    str(country_code),
                    [(pattern.pattern, sorted(lengths)) for pattern, lengths in plans],
                )
            )
    return texts
