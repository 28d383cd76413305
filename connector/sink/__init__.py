"""The Spotify sink: batches transformed events into Conversions API requests.

It knows nothing about Kafka: the caller adds `SinkItem`s and receives one `SendOutcome` per
item through its callback; items refused for auth reasons (401/403) get no outcome until the
token works again, so their offsets are never committed.
"""

from connector.sink.items import (
    NullObserver,
    SendOutcome,
    SendStatus,
    SinkError,
    SinkItem,
    SinkObserver,
)
from connector.sink.learned import StrippedField
from connector.sink.spotify_sink import SpotifySink

__all__ = [
    "NullObserver",
    "SendOutcome",
    "SendStatus",
    "SinkError",
    "SinkItem",
    "SinkObserver",
    "SpotifySink",
    "StrippedField",
]
