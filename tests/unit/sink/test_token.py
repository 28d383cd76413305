"""A token read from a file is read again when the file changes (as a mounted Secret is updated:
a new file behind the same name), at most every CHECK_S or at once when asked; a text that is
no token is not taken. A fake clock; real files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from connector.config import SpotifySettings
from connector.sink.token import CHECK_S, TokenSource

OLD, NEW = "tok-old-3f9a1c-SECRET", "tok-new-7e2b44-SECRET"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def replace(file: Path, text: str) -> None:
    """As the kubelet does: a new file under the same name, swapped in at once."""
    staged = file.with_name(file.name + ".new")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, file)


def source(tmp_path: Path) -> tuple[TokenSource, Path, Clock]:
    file = tmp_path / "spotify-capi-token"
    file.write_text(OLD + "\n", encoding="utf-8")
    clock = Clock()
    spotify = SpotifySettings(token=SecretStr(OLD), token_file=file, connection_id="c")
    return TokenSource(spotify, "globex", clock), file, clock


def test_a_new_file_is_taken_at_the_next_look(tmp_path: Path) -> None:
    tokens, file, clock = source(tmp_path)
    assert (tokens.token, tokens.generation) == (OLD, 0)
    replace(file, NEW + "\n")
    clock.now += CHECK_S / 2
    assert tokens.token == OLD  # not looked at yet
    clock.now += CHECK_S / 2
    assert (tokens.token, tokens.generation, tokens.used) == (NEW, 1, (OLD, NEW))
    clock.now += CHECK_S
    assert (tokens.token, tokens.generation) == (NEW, 1)  # unchanged: nothing new


def test_a_refusal_reads_it_at_once(tmp_path: Path) -> None:
    tokens, file, _ = source(tmp_path)
    assert not tokens.reload()
    replace(file, NEW)
    assert tokens.reload()
    assert tokens.token == NEW
    replace(file, NEW)  # a new file with the same token: no new token
    assert not tokens.reload()
    assert tokens.generation == 1


@pytest.mark.parametrize("text", ["", "   \n", "tok en", "tök"])
def test_a_text_that_is_no_token_is_not_taken(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    tokens, file, _ = source(tmp_path)
    replace(file, text)
    with caplog.at_level(logging.WARNING):
        assert not tokens.reload()
    assert (tokens.token, tokens.generation) == (OLD, 0)
    assert "the token file of connection globex cannot be used" in caplog.text
    assert "the token in use stays" in caplog.text
    if text.strip():
        assert text.strip() not in caplog.text


def test_a_missing_file_keeps_the_token(tmp_path: Path) -> None:
    tokens, file, _ = source(tmp_path)
    file.unlink()
    assert not tokens.reload()
    assert tokens.token == OLD
    replace(file, NEW)  # back: taken
    assert tokens.reload()


def test_a_token_given_in_the_settings_never_changes(tmp_path: Path) -> None:
    clock = Clock()
    tokens = TokenSource(SpotifySettings(token=SecretStr(OLD), connection_id="c"), clock=clock)
    clock.now += 10 * CHECK_S
    assert (tokens.token, tokens.reload(), tokens.generation) == (OLD, False, 0)


def test_the_file_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.config import read_settings

    file = tmp_path / "token"
    file.write_text(OLD + "\n", encoding="utf-8")
    monkeypatch.setenv("SPOTIFY_CAPI_TOKEN_FILE", str(file))
    monkeypatch.setenv("SPOTIFY_CAPI_GLOBEX_TOKEN_FILE", str(file))
    monkeypatch.setenv("SPOTIFY_CAPI_GLOBEX_CONNECTION_ID", "g")
    settings = read_settings()
    assert settings.spotify.token_file == file
    assert settings.spotify.connections["globex"].token_file == file
    assert settings.spotify_connections()["globex"].token_file == file
    monkeypatch.setenv("SPOTIFY_CAPI_TOKEN", "plain-wins")  # the plain variable: no file
    assert read_settings().spotify.token_file is None
