"""The phone fast paths give phonenumbers' own answer, or step aside to it."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.transform.phone import _from_national, _parse, _plausible_e164, to_e164
from connector.transform.problems import Invalid

# Regions whose national prefix is plain digits (fast path) and some whose rules are patterns.
REGIONS = ["US", "CA", "DE", "FR", "IN", "IT", "ES", "NL", "MX", "GB", "BR", "JP", "AU", "AR"]


def _examples() -> list[tuple[str, str]]:
    cases = []
    for region in REGIONS:
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                cases.append((region, phonenumbers.format_number(number, 2)))  # NATIONAL
    return cases


@pytest.mark.parametrize(("region", "national"), _examples())
def test_example_numbers_written_nationally_agree_with_phonenumbers(
    region: str, national: str
) -> None:
    expected = phonenumbers.format_number(
        phonenumbers.parse(national, region), phonenumbers.PhoneNumberFormat.E164
    )
    assert to_e164(national, region) == expected


def test_national_fast_path_agrees_with_phonenumbers_in_every_region() -> None:
    """Each region's example numbers and near misses (one digit changed, one dropped or added,
    the country code in front): wherever the fast path answers, it is phonenumbers' answer."""
    rng = random.Random(20260123)
    answered = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.format_number(example, 2)  # NATIONAL
            digits = "".join(c for c in national if c.isdigit())
            changed = list(digits)
            changed[rng.randrange(len(digits))] = str(rng.randrange(10))
            calling_code = str(example.country_code)
            for candidate in (digits, "".join(changed), digits[:-1], digits + "7"):
                for text in (candidate, calling_code + candidate):
                    fast = _from_national(text, region)
                    if fast is not None:
                        answered += 1
                        assert fast == _parse(text, region), (region, text)
    assert answered > 500  # the fast path is really exercised


@settings(max_examples=300, deadline=None)
@given(region=st.sampled_from(REGIONS), digits=st.text("0123456789", min_size=4, max_size=16))
def test_national_fast_path_agrees_with_phonenumbers(region: str, digits: str) -> None:
    fast = _from_national(digits, region)
    if fast is not None:  # the fast path answered: it must be phonenumbers' answer
        assert fast == _parse(digits, region)


@settings(max_examples=300, deadline=None)
@given(digits=st.text("0123456789", min_size=7, max_size=15).filter(lambda d: d[0] != "0"))
def test_e164_fast_path_never_accepts_what_phonenumbers_reads_differently(digits: str) -> None:
    e164 = f"+{digits}"
    if _plausible_e164(e164):
        assert _parse(e164, "US") == e164


@settings(max_examples=200, deadline=None)
@given(region=st.sampled_from(REGIONS), digits=st.text("0123456789", min_size=4, max_size=16))
def test_to_e164_equals_phonenumbers_with_the_plan_check(region: str, digits: str) -> None:
    try:
        result: str | None = to_e164(digits, region)
    except Invalid:
        result = None
    assert result == _parse(digits, region)


def test_invalid_phone_message_does_not_quote_the_number() -> None:
    with pytest.raises(Invalid) as caught:
        to_e164("+1 123 456 7890", "US")
    assert caught.value.code == "invalid_phone"
    assert "123" not in caught.value.message
