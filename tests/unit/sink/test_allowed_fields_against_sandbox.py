"""What leaves the process: a field outside the allow-list is absent from the body the sandbox
received, and a skipped event never reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from capi_devtools.sandbox import SandboxServer, SandboxSettings
from connector.config import ConsentSettings, DecodeSettings, TransformSettings
from connector.models import PropertyValue, SourceCoordinates
from connector.prepare.preparer import Preparer, Ready
from connector.schemas import avro
from connector.sink import SendStatus, SinkItem
from tests.unit.sink.conftest import CONNECTION_ID, NOW_MS, TOKEN, Harness


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    settings = SandboxSettings(tokens=(SecretStr(TOKEN),), connection_ids=(CONNECTION_ID,))
    async with SandboxServer(settings) as server:
        yield server


PROPS: dict[str, PropertyValue] = {
    "$ip": "203.0.113.12",
    "$user_agent": "Mozilla/5.0",
    "$spclid": "click-1",
    "event_source_url": "https://shop.example/p/1",
    "content_name": "Shoe",
}


def ready_items(
    transform: TransformSettings, events: list[dict[str, PropertyValue]]
) -> list[SinkItem]:
    """Tracking events (their properties) through decode and transform, as the sink gets them."""
    schema = avro.bundled_schema(avro.TRACKING_EVENT)
    preparer = Preparer(DecodeSettings(), transform)
    records = [
        (avro.encode(schema, {"event": "VIEW", "properties": props}), SourceCoordinates("t", 0, n))
        for n, props in enumerate(events)
    ]
    prepared = preparer.prepare(records, NOW_MS)
    preparer.close()
    return [
        SinkItem(ref=p.event_id, event_id=p.event_id, payload=p.payload)
        for p in prepared
        if isinstance(p, Ready)
    ]


async def test_a_field_outside_the_allow_list_never_reaches_spotify(
    sandbox: SandboxServer,
) -> None:
    transform = TransformSettings(
        allowed_fields=("user_data.ip_address", "event_details.content_name"),
        consent=ConsentSettings(property="marketing_consent"),
    )
    events = [
        {**PROPS, "$event_id": "kept", "marketing_consent": True},
        {**PROPS, "$event_id": "skipped", "marketing_consent": False},
    ]
    items = ready_items(transform, events)
    assert [item.event_id for item in items] == ["kept"]
    h = Harness(sandbox.url, batch_size=10)
    async with h.sink:
        h.add(items)
        assert await h.sink.flush(timeout=10)
    assert [o.status for o in h.outcomes] == [SendStatus.DELIVERED]
    body = sandbox.state.body("kept")
    assert body is not None
    assert body["user_data"] == {"ip_address": "203.0.113.12"}
    assert body["event_details"] == {"content_name": "Shoe"}
    assert "event_source_url" not in body
    assert sandbox.state.body("skipped") is None
    assert sandbox.state.accepted_ids() == {"kept": 1}
