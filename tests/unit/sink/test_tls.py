"""TLS is verified; `spotify.ca_bundle` adds a private CA to the default trust store."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector.sink import SendStatus
from tests.unit.sink.conftest import Harness, ScriptedSpotify, items


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made by openssl, once per module)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [  # noqa: S607 - openssl from PATH, as on any Debian machine
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[ScriptedSpotify]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    spotify = ScriptedSpotify()
    app = web.Application()
    app.router.add_post("/capi-direct/events/", spotify.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    spotify.url = str(server.make_url("/capi-direct/events/"))
    yield spotify
    await server.close()


async def test_https_with_the_ca_bundle_is_delivered(
    tls_server: ScriptedSpotify, certificate: tuple[Path, Path]
) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    h = Harness(tls_server.url, ca_bundle=certificate[0], batch_size=10)
    async with h.sink:
        h.add(items("tls", 3))
        assert await h.sink.flush(timeout=5)

    h.check_exactly_once()
    assert {o.status for o in h.outcomes} == {SendStatus.DELIVERED}
    assert len(tls_server.requests) == 1


async def test_https_with_an_unknown_ca_is_never_sent(tls_server: ScriptedSpotify) -> None:
    h = Harness(tls_server.url, batch_size=10, max_attempts=2)
    async with h.sink:
        h.add(items("untrusted", 2))
        assert await h.sink.flush(timeout=5)

    h.check_exactly_once()
    assert {(o.status, o.http_status) for o in h.outcomes} == {(SendStatus.RETRY_EXHAUSTED, None)}
    assert all("CERTIFICATE_VERIFY_FAILED" in (o.error_message or "") for o in h.outcomes)
    assert tls_server.requests == []  # the request never reached the handler
