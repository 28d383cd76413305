"""Shared helpers for the transform tests: a fixed clock, coordinates, one-call transforms."""

from __future__ import annotations

import hashlib
from typing import Any

from connector.config import TransformSettings
from connector.models import (
    Accepted,
    PropertyValue,
    Rejected,
    SourceCoordinates,
    TrackingEvent,
    TransformOutcome,
)
from connector.transform import Transformer

NOW_MS = 1_769_171_696_000  # 2026-01-23T12:34:56.000Z
NOW_TEXT = "2026-01-23T12:34:56.000Z"
COORDS = SourceCoordinates("tracking-events", 3, 42)
IDENTIFIED: dict[str, PropertyValue] = {"$device_id": "device-1"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def transform(
    props: dict[str, PropertyValue],
    event: str = "VIEW",
    *,
    timestamp_ms: int | None = None,
    coordinates: SourceCoordinates = COORDS,
    now_ms: int = NOW_MS,
    **settings: Any,
) -> TransformOutcome:
    transformer = Transformer(TransformSettings(**settings))
    return transformer.transform(
        TrackingEvent(event, props, timestamp_ms=timestamp_ms), coordinates, now_ms
    )


def accepted(props: dict[str, PropertyValue], event: str = "VIEW", **kwargs: Any) -> Accepted:
    outcome = transform(props, event, **kwargs)
    assert isinstance(outcome, Accepted), outcome
    return outcome


def rejected(props: dict[str, PropertyValue], event: str = "VIEW", **kwargs: Any) -> Rejected:
    outcome = transform(props, event, **kwargs)
    assert isinstance(outcome, Rejected), outcome
    return outcome


def wire(props: dict[str, PropertyValue], event: str = "VIEW", **kwargs: Any) -> dict[str, Any]:
    return accepted(props, event, **kwargs).event.to_wire()
