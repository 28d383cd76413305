"""NOTES.txt: what `helm install` prints. helm template skips it, so a copy of the chart renders
it into a ConfigMap."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.chart.helm import CHART_DIR, Chart

pytestmark = pytest.mark.chart

NOTES_PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-probe
data:
  notes: {{ include "spotify-capi-connector/templates/NOTES.txt" . | quote }}
"""


@pytest.fixture(scope="module")
def notes_chart(chart: Chart, tmp_path_factory: pytest.TempPathFactory) -> Chart:
    copy = tmp_path_factory.mktemp("notes") / "spotify-capi-connector"
    shutil.copytree(CHART_DIR, copy)
    (copy / "templates" / "zz-notes-probe.yaml").write_text(NOTES_PROBE, encoding="utf-8")
    return Chart(chart.helm, tmp_path_factory.mktemp("notes-values"), chart_dir=copy)


def notes(chart: Chart, values: dict[str, Any] | None = None, *files: Path) -> str:
    probe = next(
        obj for obj in chart.render(values, *files).all("ConfigMap")
        if obj["metadata"]["name"] == "notes-probe"
    )  # fmt: skip
    text: str = probe["data"]["notes"]
    return text


def test_notes_name_the_group_topic_and_dead_letter_acls(notes_chart: Chart) -> None:
    text = notes(notes_chart)
    assert "consumes topic tracking-events as consumer group spotify-capi-connector." in text
    assert "port-forward svc/capi-spotify-capi-connector 8080" in text
    assert "spotify-capi-dlq holds the failed events, PII included" in text


def test_notes_warn_when_no_token_is_configured(notes_chart: Chart) -> None:
    assert "WARNING: no Spotify token or connection id" in notes(notes_chart)
    configured = notes(
        notes_chart, {"secrets": {"spotifyToken": "canary-9d1", "spotifyConnectionId": "c-77"}}
    )
    assert "WARNING" not in configured
    assert "canary-9d1" not in configured


def test_notes_say_how_to_reconcile_by_hand_when_enabled(notes_chart: Chart) -> None:
    assert "reconcile" not in notes(notes_chart)
    values = {
        "adsApi": {"clientId": "c", "businessId": "b", "datasetId": "d"},
        "secrets": {"spotifyAdsClientSecret": "s", "spotifyAdsRefreshToken": "r"},
        "reconcile": {"enabled": True, "windowHours": 48},
    }
    text = notes(notes_chart, values)
    assert "Every 3600 s the pods compare what they delivered in the last 48 h" in text
    assert (
        "kubectl -n conversions exec deploy/capi-spotify-capi-connector -- "
        "spotify-capi-connector reconcile --config "
        "/etc/spotify-capi-connector/config.yaml --since 48h"
    ) in text
