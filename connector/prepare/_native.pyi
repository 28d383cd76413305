# The Rust extension built from native/ (connector/prepare/native.py uses it).
from collections.abc import Sequence

class NativePreparer:
    def __init__(
        self,
        *,
        max_event_id: int,
        max_url: int,
        max_content_name: int,
        max_category: int,
        max_device_id: int,
        text_limits: tuple[int, ...],
        default_opt_out: bool,
        phone_digits_only: bool,
        max_age_ms: int | None,
        consent_property: str | None,
        route_property: str | None,
        currencies: set[str],
        spotify_names: set[str],
        phone_plans: list[tuple[str, list[tuple[str, list[int]]]]],
    ) -> None: ...
    def learn_name(self, own_name: str, spotify_name: str) -> None: ...
    def learn_category(self, sent: str, category_id: str) -> None: ...
    def prepare_batch(
        self, records: Sequence[tuple[bytes | None, int | None]], now_ms: int
    ) -> list[tuple[str, str, int, bytes, int, int, str | None] | int]: ...

def py_strip(text: str) -> str: ...
