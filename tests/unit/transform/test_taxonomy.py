"""content_category → a Google Product Taxonomy id: by id, number, path, name, the shop's
mapping; anything else is left out with a warning and the event still goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.assemble import load_settings
from connector.errors import ConfigError
from connector.models import PropertyValue, TransformWarning
from connector.transform.taxonomy import TAXONOMY_VERSION, fold, google_taxonomy
from tests.unit.transform.support import IDENTIFIED, accepted

UNKNOWN = TransformWarning("unknown_content_category", "content_category")


def _category(value: PropertyValue, **settings: Any) -> tuple[str | None, tuple[object, ...]]:
    """(the content_category sent or None, the warnings)."""
    outcome = accepted({"content_category": value, **IDENTIFIED}, **settings)
    details = outcome.event.event_details
    return (details.content_category if details else None), outcome.warnings


# --- the shipped list ------------------------------------------------------------------------


def test_the_shipped_taxonomy_is_googles_2021_09_21_list() -> None:
    taxonomy = google_taxonomy()
    assert taxonomy.version == TAXONOMY_VERSION == "2021-09-21"
    assert len(taxonomy.paths_by_id) == 5595
    assert taxonomy.paths_by_id["187"] == "Apparel & Accessories > Shoes"
    assert taxonomy.paths_by_id["2271"] == "Apparel & Accessories > Clothing > Dresses"
    assert taxonomy.paths_by_id["5644"] == "Vehicles & Parts > Vehicles > Watercraft > Yachts"


def test_every_last_segment_is_unique_so_a_name_means_one_category() -> None:
    names = [path.rpartition(" > ")[2] for path in google_taxonomy().paths_by_id.values()]
    assert len({fold(name) for name in names}) == len(names) == 5595


def test_no_spelling_stands_for_two_ids() -> None:
    """Paths, names and ids share one lookup; only a top-level category's path is also its
    name, and both mean the same id."""
    seen: dict[str, str] = {}
    for category_id, path in google_taxonomy().paths_by_id.items():
        for spelling in {category_id, fold(path), fold(path.rpartition(" > ")[2])}:
            assert seen.setdefault(spelling, category_id) == category_id, spelling


def test_the_taxonomy_is_loaded_once() -> None:
    assert google_taxonomy() is google_taxonomy()


# --- what a shop sends -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("187", "187"),  # an id as text
        (" 2271 ", "2271"),
        ("0187", "187"),
        (187, "187"),  # an id as a number
        (2271.0, "2271"),
        ("Apparel & Accessories > Shoes", "187"),  # a full path
        ("apparel & accessories > shoes", "187"),
        ("Apparel & Accessories>Shoes", "187"),
        ("  APPAREL  &  Accessories   >   Shoes  ", "187"),
        ("Apparel & Accessories > Clothing > Dresses", "2271"),
        ("Apparel & Accessories", "166"),  # a top-level category: path and name alike
        ("Shoes", "187"),  # a category's own name
        ("dresses", "2271"),
        ("Yachts", "5644"),
        ("Magic & Novelties", "35"),
    ],
)
def test_id_path_or_name_is_sent_as_the_id(value: PropertyValue, expected: str) -> None:
    assert _category(value) == (expected, ())


@pytest.mark.parametrize(
    "value",
    [
        "Running Shoes",  # free text
        "Apparel > Shoes",  # not a path of the taxonomy
        "Shoes > Apparel & Accessories",
        "999999",  # a number that is no id
        "0",
        187.5,
        -187,
        "١٨٧",  # digits, but not ASCII ones
    ],
)
def test_anything_else_is_left_out_with_a_warning_and_the_event_goes(value: PropertyValue) -> None:
    outcome = accepted({"content_category": value, "content_name": "Boots", **IDENTIFIED})
    assert outcome.event.to_wire()["event_details"] == {"content_name": "Boots"}
    assert outcome.warnings == (UNKNOWN,)


@pytest.mark.parametrize("value", [True, ["Shoes"]])
def test_a_wrong_type_is_left_out_with_a_warning(value: PropertyValue) -> None:
    assert _category(value) == (None, (TransformWarning("invalid_type", "content_category"),))


@pytest.mark.parametrize("value", ["", "   ", None])
def test_blank_is_absent_without_warning(value: PropertyValue) -> None:
    assert _category(value) == (None, ())


def test_text_over_its_cap_is_too_long() -> None:
    assert _category("Shoes " * 100) == (
        None,
        (TransformWarning("too_long", "content_category"),),
    )


# --- the shop's own names --------------------------------------------------------------------

SHOP_NAMES = {
    "Sneakers": "Apparel & Accessories > Shoes",
    "Kleider": "2271",
    "Boote": "yachts",
    "Shoes": "Dresses",  # the shop's own meaning wins over the taxonomy's name
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sneakers", "187"),
        (" sneakers ", "187"),
        ("KLEIDER", "2271"),
        ("Boote", "5644"),
        ("Shoes", "2271"),
        ("Apparel & Accessories > Shoes", "187"),  # the taxonomy still answers the rest
    ],
)
def test_mapping_turns_shop_names_into_ids(value: str, expected: str) -> None:
    assert _category(value, content_category_mapping=SHOP_NAMES) == (expected, ())


def test_a_mapping_target_outside_the_taxonomy_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(
        "transform:\n  content_category_mapping:\n"
        "    Sneakers: Apparel & Accessories > Shoes\n    Gadgets: Gizmos\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "content_category_mapping" in message
    assert "['Gadgets']" in message
    assert "Sneakers" not in message
