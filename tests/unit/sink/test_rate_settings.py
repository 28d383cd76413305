"""Which request-rate cap each connection's sink gets: its own, the sink's, and a worker's share."""

from __future__ import annotations

import pytest

from connector.assemble import load_settings, sink_settings
from connector.config import Settings
from connector.errors import ConfigError
from connector.process.cpus import WORKER_COUNT_ENV


def settings(**sections: object) -> Settings:
    return Settings(**sections)  # type: ignore[arg-type]


def test_unset_means_no_cap() -> None:
    assert sink_settings(settings(), "default").max_requests_per_second is None


def test_a_connection_takes_its_own_cap_else_the_sinks() -> None:
    both = settings(
        sink={"max_requests_per_second": 50},
        spotify={
            "connections": {
                "globex": {"token": "t", "connection_id": "c", "max_requests_per_second": 5},
                "acme": {"token": "t", "connection_id": "c"},
            }
        },
    )
    assert sink_settings(both, "globex").max_requests_per_second == 5
    assert sink_settings(both, "acme").max_requests_per_second == 50
    assert sink_settings(both, "default").max_requests_per_second == 50
    assert sink_settings(both, "acme").batch_size == both.sink.batch_size  # the rest is the sink's


def test_each_worker_of_run_workers_takes_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WORKER_COUNT_ENV, "4")
    capped = settings(sink={"max_requests_per_second": 20})
    assert sink_settings(capped, "default").max_requests_per_second == 5
    monkeypatch.setenv(WORKER_COUNT_ENV, "4")
    assert sink_settings(settings(), "default").max_requests_per_second is None


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND", "12.5")
    monkeypatch.setenv("SPOTIFY_CAPI_GLOBEX_TOKEN", "t")
    monkeypatch.setenv("SPOTIFY_CAPI_GLOBEX_CONNECTION_ID", "c")
    monkeypatch.setenv("CONNECTOR_SPOTIFY__CONNECTIONS__GLOBEX__MAX_REQUESTS_PER_SECOND", "3")
    loaded = load_settings()
    assert loaded.sink.max_requests_per_second == 12.5
    assert loaded.max_requests_per_second("globex") == 3
    assert loaded.max_requests_per_second("default") == 12.5


@pytest.mark.parametrize("value", ["0", "-1", "fast"])
def test_a_cap_must_be_a_positive_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CONNECTOR_SINK__MAX_REQUESTS_PER_SECOND", value)
    with pytest.raises(ConfigError, match=r"sink\.max_requests_per_second"):
        load_settings()
