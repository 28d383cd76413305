"""The headers of every request to Spotify, built once and proven sendable before any request
(`SpotifySettings.bearer_token` refuses a token no header can carry)."""

from __future__ import annotations

from connector.config import SpotifySettings


def request_headers(spotify: SpotifySettings) -> dict[str, str]:
    """`Authorization: Bearer <token>` and the content type, or ConfigError naming the setting."""
    return {
        "Authorization": f"Bearer {spotify.bearer_token()}",
        "Content-Type": "application/json",
    }
