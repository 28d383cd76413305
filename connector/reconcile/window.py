"""One reconciliation of a time window: the connector's results read and counted, each
connection's dataset and its diagnostics fetched, the two compared. `reconcile` runs it once,
the running connector every `ads_api.reconcile_interval_s` when that is set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import aiohttp

from connector.config import AdsApiSettings, Settings
from connector.errors import ConfigError
from connector.reconcile.ads_api import AdsApi
from connector.reconcile.compare import Dataset, Reconciliation, reconcile
from connector.reconcile.counts import (
    API_GRANULARITY,
    BUCKET_MS,
    DeliveredCounts,
    Granularity,
    counted_from,
)


def require_ads_api(settings: Settings, connections: list[str]) -> None:
    """ConfigError, in one line, naming every setting `reconcile` needs and lacks."""
    missing = settings.ads_api.missing(connections)
    if missing:
        raise ConfigError(f"reconcile needs {', '.join(missing)}")


def reconcile_window(
    settings: Settings,
    connections: list[str],
    granularity: Granularity,
    since_ms: int,
    results: Iterable[dict[str, Any]],
) -> Reconciliation:
    """`results`: the result records from `since_ms` on (bucket-aligned)."""
    delivered = DeliveredCounts(granularity, since_ms)
    for record in results:
        delivered.add(record)
    datasets = asyncio.run(fetch_datasets(settings.ads_api, connections, granularity, since_ms))
    return reconcile(
        delivered.by_connection,
        datasets,
        granularity_ms=BUCKET_MS[granularity],
        delay_ms=int(settings.ads_api.processing_delay_s * 1000),
        now_ms=time.time_ns() // 1_000_000,
    )


async def fetch_datasets(
    settings: AdsApiSettings, connections: list[str], granularity: Granularity, since_ms: int
) -> list[Dataset]:
    datasets = []
    async with aiohttp.ClientSession() as session:
        api = AdsApi(settings, session)
        for name in connections:
            business_id, dataset_id = settings.where(name)
            if business_id is None or dataset_id is None:
                raise ConfigError(f"reconcile needs {', '.join(settings.missing([name]))}")
            dataset = await api.dataset(business_id, dataset_id)
            diagnostics = await api.diagnostics(
                business_id, dataset_id, API_GRANULARITY[granularity]
            )
            integration = dataset.get("capi_integration")
            linked = isinstance(integration, dict) and integration.get("dataset_id") == dataset_id
            counted = counted_from(diagnostics, granularity, since_ms)
            datasets.append(Dataset(name, dataset_id, counted, linked))
    return datasets
