"""The DeliveryResult of a record, from what became of it: pure functions, the only builders.

A record ends before the sink (`failed_result`: undecodable, refused by the transform, or
skipped for want of consent, which is not dead-lettered) or Spotify answers for it
(`sent_result`). Each also names the stage a dead letter reports.
"""

from __future__ import annotations

from connector.models import (
    DeliveryResult,
    DeliveryStatus,
    Identifiers,
    Rejected,
    Skipped,
    SourceCoordinates,
    SourceRecord,
    new_tuple,
)
from connector.prepare.preparer import Ready, Undecodable
from connector.sink import SendOutcome, SendStatus
from connector.sink.heal import removal_warnings
from connector.transform.identifiers import dropped, refused

_SEND_STATUS = {
    SendStatus.DELIVERED: DeliveryStatus.DELIVERED,
    SendStatus.REJECTED: DeliveryStatus.REJECTED_SPOTIFY,
    SendStatus.RETRY_EXHAUSTED: DeliveryStatus.RETRY_EXHAUSTED,
}


def failed_result(
    identity: SourceCoordinates,
    envelope: SourceRecord,
    failure: Undecodable | Rejected | Skipped,
    settled_at_ms: int,
) -> tuple[DeliveryResult, str]:
    """The result of a record that never reached the sink, and its stage."""
    if isinstance(failure, Skipped):
        result = DeliveryResult(
            coordinates=identity,
            status=DeliveryStatus.SKIPPED_NO_CONSENT,
            received_at_ms=envelope.received_at_ms,
            settled_at_ms=settled_at_ms,
            event_id=failure.event_id,
            event_name=failure.event_name,
            error_code=failure.reason,
            error_field=failure.field,
            error_message=_SKIP_MESSAGES[failure.reason],
        )
        return result, "consent"
    if isinstance(failure, Undecodable):
        result = DeliveryResult(
            coordinates=identity,
            status=DeliveryStatus.UNDECODABLE,
            received_at_ms=envelope.received_at_ms,
            settled_at_ms=settled_at_ms,
            error_code=failure.reason,
            error_message=failure.message,
        )
        return result, "decode"
    r = failure.rejection
    result = DeliveryResult(
        coordinates=identity,
        status=DeliveryStatus.REJECTED_TRANSFORM,
        received_at_ms=envelope.received_at_ms,
        settled_at_ms=settled_at_ms,
        event_id=failure.event_id,
        event_name=failure.event_name,
        error_code=r.reason,
        error_field=r.field,
        error_message=r.message,
        warnings=tuple(str(w) for w in failure.warnings),
        identifiers_dropped=dropped(failure.warnings),
    )
    return result, "transform"


_SKIP_MESSAGES = {
    "consent_denied": "not sent: the consent property denies it (transform.consent.on_denied)",
    "consent_missing": "not sent: no readable consent (transform.consent.on_missing)",
}


def sent_result(
    identity: SourceCoordinates, envelope: SourceRecord, ready: Ready, outcome: SendOutcome
) -> DeliveryResult:
    """The result of a record Spotify answered for (delivered, rejected or retried out)."""
    identifiers, warnings = ready.identifiers, ready.warnings
    if outcome.removed_fields:  # healed or learned: the event went without these fields
        identifiers, warnings = _without(identifiers, warnings, outcome.removed_fields)
    item = outcome.item
    # Every field in DeliveryResult's order, through new_tuple: one a record answered, and
    # the NamedTuple's keyword __new__ costs ~1 µs more (bench/README.md, main process).
    return new_tuple(
        DeliveryResult,
        (
            identity,  # coordinates
            _SEND_STATUS[outcome.status],  # status
            envelope.received_at_ms,  # received_at_ms
            outcome.acknowledged_at_ms,  # settled_at_ms
            item.event_id,  # event_id
            ready.event_name,  # event_name
            ready.event_time_ms,  # event_time_ms
            outcome.http_status,  # http_status
            outcome.error_code,  # error_code
            None,  # error_field
            outcome.error_message,  # error_message
            outcome.attempts,  # attempts
            outcome.sp_trace_id,  # sp_trace_id
            warnings,  # warnings
            item.connection,  # connection
            identifiers.carried,  # identifiers
            identifiers.email_count,  # email_count
            identifiers.dropped,  # identifiers_dropped
        ),
    )


# A field Spotify refuses on a connection is left out of every event while it is learned: the
# same few (identifiers, warnings, fields) come back for each, so their answer is kept (~4 µs a
# result less on the Kafka thread, bench/README.md).
_WITHOUT: dict[
    tuple[Identifiers, tuple[str, ...], tuple[str, ...]], tuple[Identifiers, tuple[str, ...]]
] = {}
_WITHOUT_KEPT = 4096


def _without(
    identifiers: Identifiers, warnings: tuple[str, ...], removed: tuple[str, ...]
) -> tuple[Identifiers, tuple[str, ...]]:
    """The identifiers and warnings of an event sent without the `removed` fields."""
    key = (identifiers, warnings, removed)
    known = _WITHOUT.get(key)
    if known is None:
        known = (refused(identifiers, removed), warnings + removal_warnings(removed))
        if len(_WITHOUT) < _WITHOUT_KEPT:
            _WITHOUT[key] = known
    return known
