"""Event ids derived from where a record sits in Kafka, so a redelivery carries the same id.

`derive_event_id` equals `str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{topic}:{partition}:{offset}"))`;
it is written out because `uuid.UUID` construction costs more than the hash itself.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

from connector.models import SourceCoordinates

# uuid5(NAMESPACE_URL, "https://github.com/spotify-capi-connector/event-id"). Fixed forever:
# changing it changes every derived id, and Spotify would no longer deduplicate redeliveries.
EVENT_ID_NAMESPACE: Final = uuid.UUID("b8818ca8-fb7b-5b17-8492-9363e8fdf144")
_NAMESPACE_BYTES: Final = EVENT_ID_NAMESPACE.bytes


def derive_event_id(coordinates: SourceCoordinates) -> str:
    name = f"{coordinates.topic}:{coordinates.partition}:{coordinates.offset}"
    digest = bytearray(
        hashlib.sha1(
            _NAMESPACE_BYTES + name.encode("utf-8", "surrogatepass"), usedforsecurity=False
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
