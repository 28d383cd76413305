"""What goes into the sink and what comes back out: one outcome per item.

Items and outcomes are NamedTuples (one of each per record; see connector/models.py)."""

from __future__ import annotations

import enum
from typing import NamedTuple, Protocol

from connector.errors import ConnectorError


class SinkItem(NamedTuple):
    """One transformed event, ready to send."""

    ref: object  # the caller's handle (the pipeline keeps its record coordinates here)
    event_id: str
    payload: bytes  # the event's JSON: orjson.dumps(spotify_event.to_wire())
    connection: str = "default"  # the named Spotify connection that sends it
    # Contract paths the sink left out before sending, because Spotify refuses them on this
    # connection (connector/sink/learned.py)
    removed: tuple[str, ...] = ()
    # The trace context of the batch it came in (connector/observe/tracing.py): its request's
    # span is a child of that batch's; None when nothing is traced.
    trace: object = None


class SendStatus(enum.StrEnum):
    DELIVERED = "DELIVERED"
    REJECTED = "REJECTED"
    RETRY_EXHAUSTED = "RETRY_EXHAUSTED"


class SendOutcome(NamedTuple):
    """What became of one item. Never carries the token."""

    item: SinkItem
    status: SendStatus
    http_status: int | None
    error_code: str | None  # "spotify_400", "too_large", "spotify_422", "retry_exhausted"
    error_message: str | None  # Spotify's answer (trimmed) or the last failure
    attempts: int  # requests sent for the batch that answered this item
    sp_trace_id: str | None
    acknowledged_at_ms: int
    # Contract paths the event went without: learned refusals (the item's `removed`), and for a
    # delivered event what healing removed before Spotify accepted it
    removed_fields: tuple[str, ...] = ()


class SinkObserver(Protocol):
    """Hooks for metrics; called on the event loop, must not block."""

    def on_request(self, status: int | None, events: int, seconds: float) -> None: ...

    def on_retry(self, cause: str) -> None: ...

    def on_auth_state(self, failing: bool) -> None: ...

    def on_field_removed(self, field: str) -> None:
        """A healed event was accepted without `field` (a contract path)."""

    def on_in_flight(self, requests: int, limit: int) -> None:
        """Requests in flight now, and the adaptive limit on them."""

    def on_fields_stripped(self, field: str, events: int) -> None:
        """`events` left without `field` (a contract path) because the connection refuses it."""

    def on_rate_wait(self, seconds: float) -> None:
        """The sink held a ready batch back this long for the request-rate cap."""


class NullObserver:
    """The default observer: observes nothing."""

    def on_request(self, status: int | None, events: int, seconds: float) -> None:
        pass

    def on_retry(self, cause: str) -> None:
        pass

    def on_auth_state(self, failing: bool) -> None:
        pass

    def on_field_removed(self, field: str) -> None:
        pass

    def on_in_flight(self, requests: int, limit: int) -> None:
        pass

    def on_fields_stripped(self, field: str, events: int) -> None:
        pass

    def on_rate_wait(self, seconds: float) -> None:
        pass


class SinkError(ConnectorError):
    """The sink cannot vouch for its outcomes: the outcome callback or a sink task failed."""
