"""The transform: a decoded tracking event → a Spotify Conversions API event, or a rejection.

    from connector.transform import Transformer
    outcome = Transformer(settings.transform).transform(event, coordinates, now_ms)

Pure and stateless apart from bounded caches: no I/O, no clock reads, never raises.
"""

from connector.transform.transformer import Transformer

__all__ = ["Transformer"]
