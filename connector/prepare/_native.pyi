# The Rust extension built from native/ (connector/prepare/native.py builds and uses it).
from collections.abc import Sequence
from typing import Any

# Why a record was declined, as bits of the int `prepare_batch` gives for it.
UNKNOWN_NAME: int
UNKNOWN_CATEGORY: int
OTHER: int
UNKNOWN_SCHEMA: int
WRITER_SCHEMA: int
CONSENT: int

class NativePreparer:
    def __init__(
        self,
        *,
        properties: Sequence[tuple[str, str, str, int | None]],
        wire_order: Sequence[str],
        kinds: Sequence[str],
        identifiers: Sequence[str],
        ready_fields: Sequence[str],
        default_opt_out: bool,
        phone_digits_only: bool,
        max_age_ms: int | None,
        schema_plan: tuple[Any, ...] | None,
        consent_property: str | None,
        consent_category: str | None,
        removed: set[str],
        removed_from_purchase: set[str],
        identifier_properties: Sequence[str],
        route_property: str | None,
        currencies: set[str],
        spotify_names: set[str],
        genders: dict[str, str],
        action_sources: set[str],
        zero_text: str,
        longest_placeholder_word: int,
        min_event_time_ms: int,
        phone_plans: list[tuple[str, list[tuple[str, list[int]]]]],
    ) -> None: ...
    @property
    def unruled(self) -> list[str]: ...
    @property
    def unwritten(self) -> list[str]: ...
    def learn_name(self, own_name: str, spotify_name: str) -> None: ...
    def learn_category(self, sent: str, category_id: str) -> None: ...
    def learn_schema(self, schema_id: int, plan: tuple[Any, ...]) -> bool: ...
    def refuse_schema(self, schema_id: int) -> bool: ...
    def prepare_batch(
        self, records: Sequence[tuple[bytes | None, int | None]], now_ms: int
    ) -> list[tuple[str, str, int, bytes, int, int, str | None, int] | int]: ...

def py_strip(text: str) -> str: ...
def read_event(
    plan: tuple[Any, ...], record: bytes
) -> tuple[str, dict[str, Any], int | None] | None: ...
