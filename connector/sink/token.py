"""The token a connection sends, rotated without a restart.

A token from a file (`SPOTIFY_CAPI_TOKEN_FILE`, a Kubernetes Secret mounted as a directory, which
the kubelet updates in place) is read again when the file changes, looked at at most every
`CHECK_S`, and at once when Spotify refuses the token in use: a connection may hold three active
tokens precisely so that one can replace another. A new text that is empty or could not travel in
a header is not taken (the token in use stays, and one line says so, never the text). Requests
in flight finish with the token they left with; the sink sends a refused one again when the
token changed meanwhile (connector/sink/spotify_sink.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from connector.config import SpotifySettings
from connector.errors import ConfigError

log = logging.getLogger(__name__)

CHECK_S = 1.0  # how often the file is looked at, at most (a stat; a read only when it changed)


class TokenSource:
    def __init__(
        self,
        spotify: SpotifySettings,
        connection: str = "default",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spotify = spotify
        self._connection = connection
        self._token = spotify.bearer_token()  # ConfigError at start, not on every request
        self._file = spotify.token_file
        self._clock = clock
        self._stamp = _stamp(self._file)
        self._checked = clock()
        self.generation = 0  # grows with every new token taken
        self.used: tuple[str, ...] = (self._token,)  # every token sent so far, for the redactor

    @property
    def token(self) -> str:
        """The token to send now (the file looked at, at most every CHECK_S)."""
        if self._file is not None and self._clock() - self._checked >= CHECK_S:
            self.reload()
        return self._token

    def reload(self) -> bool:
        """Read the file again if it changed; True when that gave a new token."""
        self._checked = self._clock()
        stamp = _stamp(self._file)
        if self._file is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            text = self._file.read_text(encoding="utf-8").strip()
            token = self._spotify.model_copy(update={"token": SecretStr(text)}).bearer_token()
        except (OSError, UnicodeDecodeError, ConfigError) as exc:
            log.warning(
                "the token file of connection %s cannot be used (%s): the token in use stays",
                self._connection,
                type(exc).__name__ if not isinstance(exc, ConfigError) else exc,
            )
            return False
        if token == self._token:
            return False
        self._token = token
        self.generation += 1
        self.used = (*self.used[-3:], token)  # a connection holds at most three
        log.warning("a new token of connection %s was read from its file", self._connection)
        return True


def _stamp(file: Path | None) -> tuple[int, int, int] | None:
    """What changes when a file is replaced or rewritten (through a symlink, as a mounted
    Secret's key is)."""
    if file is None:
        return None
    try:
        found = os.stat(file)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_ino, found.st_size)
