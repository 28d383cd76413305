"""spotify-capi-connector: Kafka → Spotify Conversions API, at least once."""

__version__ = "0.1.0"
