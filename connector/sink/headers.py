"""The headers of every request to Spotify, built once and proven sendable before any request.

A token that cannot travel in an HTTP header (a newline, a space, a non-ASCII character) would
fail inside the HTTP library on every request; here it is a setting error at start instead.
"""

from __future__ import annotations

import re

from connector.config import SpotifySettings
from connector.errors import ConfigError

# RFC 6750's b64token, widened to every visible ASCII character: what a header can carry as one
# credential without quoting.
_SENDABLE_TOKEN = re.compile(r"[\x21-\x7e]+")


def request_headers(spotify: SpotifySettings) -> dict[str, str]:
    """`Authorization: Bearer <token>` and the content type, or ConfigError naming the setting."""
    token = "" if spotify.token is None else spotify.token.get_secret_value()
    if not token:
        raise ConfigError("spotify.token is not set (SPOTIFY_CAPI_TOKEN or its _FILE)")
    if not _SENDABLE_TOKEN.fullmatch(token):
        raise ConfigError(
            "spotify.token cannot be sent in an HTTP header (only visible ASCII characters, "
            "no spaces)"
        )
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
