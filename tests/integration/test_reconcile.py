"""`reconcile` end to end: events delivered through the sandbox on the real broker, then the
results compared with the sandbox's Ads API diagnostics, through the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import (
    DEFAULT_ADS_CLIENT_ID,
    DEFAULT_ADS_CLIENT_SECRET,
    DEFAULT_ADS_REFRESH_TOKEN,
    DEFAULT_BUSINESS_ID,
    DEFAULT_DATASET_ID,
    SandboxThread,
)
from connector.cli import main
from connector.config import Settings
from tests.support.connector import ConnectorThread, config_file, connector_settings
from tests.support.events import tracking_record
from tests.support.kafka import connector_topics, produce_events

pytestmark = pytest.mark.integration


def deliver(bootstrap: str, sandbox: SandboxThread, purchases: int, leads: int) -> Settings:
    """Purchases and leads, delivered by the live pipeline; its settings."""
    topic = connector_topics(bootstrap)
    records = [tracking_record(i) for i in range(purchases)]
    records += [
        tracking_record(i, spotify_event_name="LEAD") for i in range(purchases, purchases + leads)
    ]
    produce_events(bootstrap, topic, records)
    settings = connector_settings(bootstrap, topic, sandbox.url)
    with ConnectorThread(settings) as live:
        results = live.wait_for_results(purchases + leads)
    assert {r.status.value for r in results} == {"DELIVERED"}
    return settings


def ads_config(tmp_path: Path, settings: Settings, sandbox: SandboxThread, delay_s: float) -> Path:
    """The settings file with the sandbox's Ads API account and Spotify's processing delay."""
    ads_api = {
        "url": sandbox.ads_url,
        "token_url": sandbox.token_url,
        "client_id": DEFAULT_ADS_CLIENT_ID,
        "client_secret": DEFAULT_ADS_CLIENT_SECRET,
        "refresh_token": DEFAULT_ADS_REFRESH_TOKEN,
        "business_id": DEFAULT_BUSINESS_ID,
        "dataset_id": DEFAULT_DATASET_ID,
        "processing_delay_s": delay_s,
    }
    return config_file(tmp_path, settings, ads_api=ads_api, telemetry={"log_level": "WARNING"})


def reconcile(
    capsys: pytest.CaptureFixture[str], config: Path, *argv: str
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["reconcile", "--config", str(config), "--format", "json", *argv])
    out = capsys.readouterr()
    assert out.out.strip(), out.err
    return code, json.loads(out.out)


def totals(wire: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {t["event_name"]: (t["delivered"], t["counted"], t["gap"]) for t in wire["totals"]}


def test_delivered_events_reconcile_to_no_gap_once_past_the_delay(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SandboxThread() as sandbox:
        sandbox.configure(ads_diagnostics_delay_s=0)
        settings = deliver(kafka_bootstrap, sandbox, purchases=30, leads=20)

        # Inside Spotify's 20 minutes nothing is compared: every bucket is pending, no gap.
        code, inside = reconcile(capsys, ads_config(tmp_path, settings, sandbox, 1200))
        assert code == 0
        assert {row["state"] for row in inside["rows"]} == {"pending"}
        assert sum(row["delivered"] for row in inside["rows"]) == 50
        assert inside["gap"] == 0
        assert totals(inside) == {"LEAD": (0, 0, 0), "PURCHASE": (0, 0, 0)}

        # Past the delay: both sides say the same, per name and bucket.
        code, past = reconcile(capsys, ads_config(tmp_path, settings, sandbox, 0))
    assert code == 0
    assert past["gap"] == 0
    assert past["causes"] == []
    assert totals(past) == {"LEAD": (20, 20, 0), "PURCHASE": (30, 30, 0)}
    assert {row["state"] for row in past["rows"]} <= {"ok", "surplus"}
    assert {row["connection"] for row in past["rows"]} == {"default"}


def test_a_tenth_of_one_name_lost_shows_that_gap_on_that_name_only(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SandboxThread() as sandbox:
        sandbox.configure(ads_diagnostics_delay_s=0, ads_diagnostics_loss={"PURCHASE": 0.1})
        settings = deliver(kafka_bootstrap, sandbox, purchases=100, leads=40)
        code, wire = reconcile(capsys, ads_config(tmp_path, settings, sandbox, 0))
    assert code == 1
    assert totals(wire) == {"LEAD": (40, 40, 0), "PURCHASE": (100, 90, 10)}
    ratios = {t["event_name"]: t["gap_ratio"] for t in wire["totals"]}
    assert ratios == {"LEAD": 0.0, "PURCHASE": 0.1}
    assert wire["gap"] == 10
    assert wire["causes"] == []  # a share lost: no cause to name


def test_an_unlinked_dataset_is_named_as_the_cause(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SandboxThread() as sandbox:
        sandbox.configure(ads_diagnostics_delay_s=0, ads_unlinked_datasets=[DEFAULT_DATASET_ID])
        settings = deliver(kafka_bootstrap, sandbox, purchases=12, leads=0)
        code, wire = reconcile(capsys, ads_config(tmp_path, settings, sandbox, 0))
        capsys.readouterr()
        table_code = main(
            ["reconcile", "--config", str(ads_config(tmp_path, settings, sandbox, 0))]
        )
        table = capsys.readouterr().out
    assert code == 1
    assert totals(wire) == {"PURCHASE": (12, 0, 12)}
    [cause] = wire["causes"]
    assert cause.startswith(
        f"default: the CAPI integration is not linked to dataset {DEFAULT_DATASET_ID}"
    )
    assert table_code == 1
    assert "likely causes" in table
    assert f"- default: the CAPI integration is not linked to dataset {DEFAULT_DATASET_ID}" in table


def test_the_periodic_reconciliation_feeds_the_gap_metrics_and_counts_failed_runs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from connector.assemble import load_settings
    from connector.observe.telemetry import Telemetry
    from connector.reconcile.metrics import ReconcileMetrics
    from connector.reconcile.periodic import PeriodicReconciler

    def scraped(telemetry: Telemetry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        families = text_string_to_metric_families(telemetry.scrape().decode())
        return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}

    with SandboxThread() as sandbox:
        sandbox.configure(ads_diagnostics_delay_s=0, ads_diagnostics_loss={"PURCHASE": 0.25})
        delivered = deliver(kafka_bootstrap, sandbox, purchases=40, leads=0)
        settings = load_settings(ads_config(tmp_path, delivered, sandbox, 0))
        telemetry = Telemetry(settings)
        metrics = ReconcileMetrics(telemetry.meter_provider.get_meter("t"), clock_s=lambda: 1234.0)
        before = scraped(telemetry)
        # run_once hands back the outcome; the loop feeds it to the metrics
        metrics.on_outcome(
            PeriodicReconciler(settings, metrics.on_outcome, metrics.on_failure).run_once()
        )
        after = scraped(telemetry)

        # A refused client secret: the loop counts a failed run and keeps the last gauges.
        refused = settings.model_copy(
            update={
                "ads_api": settings.ads_api.model_copy(update={"client_secret": SecretStr("wrong")})
            }
        )
        failed = threading.Event()

        def on_failure(reason: str) -> None:
            metrics.on_failure(reason)
            failed.set()

        loop = PeriodicReconciler(refused, metrics.on_outcome, on_failure, first_after_s=0)
        loop.start()
        assert failed.wait(30)
        loop.stop()
        last = scraped(telemetry)
    labels = frozenset({("connection", "default"), ("spotify_capi_event_name", "PURCHASE")})
    runs = "spotify_capi_reconcile_runs_total"
    assert before[(runs, frozenset({("outcome", "ok")}))] == 0
    assert before[(runs, frozenset({("outcome", "failed")}))] == 0
    assert ("spotify_capi_reconcile_last_success_seconds", frozenset()) not in before
    assert after[("spotify_capi_reconcile_delivered", labels)] == 40
    assert after[("spotify_capi_reconcile_counted", labels)] == 30
    assert after[("spotify_capi_reconcile_gap_ratio", labels)] == 0.25
    assert after[(runs, frozenset({("outcome", "ok")}))] == 1
    assert after[("spotify_capi_reconcile_last_success_seconds", frozenset())] == 1234.0
    assert last[(runs, frozenset({("outcome", "failed")}))] == 1
    assert last[("spotify_capi_reconcile_gap_ratio", labels)] == 0.25
