"""One retry layer around the Schema Registry: the client's, bounded, counted on a local stub."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.config import DecodeSettings
from connector.errors import DecodeError, SchemaRegistryUnavailable
from connector.kafka.registry import ATTEMPTS, REQUEST_TIMEOUT_S, RETRY_MAX_WAIT_MS, Registry
from connector.prepare.decode import build_decoder


class StubRegistry(ThreadingHTTPServer):
    """Answers every request with `status` (a body like the registry's); counts the requests."""

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StubRegistry

    def do_GET(self) -> None:
        self.server.requests += 1
        body = b'{"error_code": %d, "message": "stub"}' % self.server.status
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def stub(request: pytest.FixtureRequest) -> Iterator[StubRegistry]:
    server = StubRegistry(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def registry(url: str) -> Registry:
    return Registry.for_settings(DecodeSettings(format="confluent", schema_registry_url=url))


@pytest.mark.parametrize("stub", [503], indirect=True)
def test_a_registry_answering_503_is_asked_attempts_times_then_unavailable(
    stub: StubRegistry,
) -> None:
    started = time.monotonic()
    with pytest.raises(SchemaRegistryUnavailable, match="answered 503"):
        registry(stub.url).schema(7)
    assert stub.requests == ATTEMPTS == 4
    waits_bound_s = (ATTEMPTS - 1) * RETRY_MAX_WAIT_MS / 1000
    assert time.monotonic() - started < waits_bound_s + 5  # no second loop of ours around it


@pytest.mark.parametrize("stub", [404], indirect=True)
def test_an_unknown_schema_id_is_asked_once_and_dead_letters_the_record(
    stub: StubRegistry,
) -> None:
    decoder = build_decoder(DecodeSettings(format="confluent", schema_registry_url=stub.url))
    with pytest.raises(DecodeError) as raised:
        decoder.decode(b"\x00\x00\x00\x00\x07payload")
    assert (raised.value.reason, stub.requests) == ("unknown_schema_id", 1)


def test_an_unreachable_registry_is_unavailable_within_the_bound() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    started = time.monotonic()
    with pytest.raises(SchemaRegistryUnavailable, match="unreachable"):
        registry(f"http://127.0.0.1:{port}").schema(7)
    assert time.monotonic() - started < ATTEMPTS * REQUEST_TIMEOUT_S
