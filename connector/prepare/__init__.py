"""Bytes → tracking event → Spotify event, and the connection it goes to: decode (the Avro reader,
the registry), the transform's call, routing, the bridge to the native path (native/), and the
prepare processes. Which path prepares and in how many processes is decided once
(connector/prepare/choice.py)."""
