"""spotify-capi-connector: Kafka → Spotify Conversions API, at least once."""

from connector.process import compiled as _compiled

__version__ = "0.1.0"

# Before any compiled module is imported: SPOTIFY_CAPI_PURE_PYTHON=1, or a stale build in a
# checkout, makes the per-record modules load from their Python sources
# (connector/process/compiled.py).
_compiled.install()
