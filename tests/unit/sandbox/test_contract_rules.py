"""Spotify's published contract in the sandbox: taxonomy ids, ErrorResponse bodies, refused keys."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from capi_devtools.sandbox import (
    DEFAULT_TOKEN,
    FaultSettings,
    SandboxAdmin,
    SandboxServer,
    SandboxSettings,
    SandboxThread,
    validation,
)
from capi_devtools.sandbox.taxonomy import is_taxonomy_id, taxonomy_ids
from tests.unit.sandbox.conftest import Post, envelope, good_event, problems

KNOWN = frozenset({"1", "166", "187"})
CLICK = {"hashed_emails": ["a" * 64], "clickID": "spclid-1"}


def categorised(event_id: str, category: Any) -> dict[str, Any]:
    return good_event(event_id, event_details={"content_category": category})


@pytest.mark.parametrize(
    ("value", "known", "accepted"),
    [
        ("187", KNOWN, True),
        ("188", KNOWN, False),  # an id's shape, not in the taxonomy
        ("0187", KNOWN, False),
        ("Shoes", KNOWN, False),
        ("Apparel & Accessories > Shoes", KNOWN, False),
        (" 187", KNOWN, False),
        ("١٨٧", KNOWN, False),  # Arabic-Indic digits are digits, not an id
        ("", KNOWN, False),
    ],
)
def test_what_counts_as_a_taxonomy_id(value: str, known: frozenset[str], accepted: bool) -> None:
    assert is_taxonomy_id(value, known) is accepted


def test_the_shipped_taxonomy_is_found() -> None:
    """The transform's copy: connector/transform/data/google-product-taxonomy-with-ids.en-US.txt."""
    ids = taxonomy_ids()
    assert len(ids) == 5595
    assert {"1", "166", "187", "2271"} <= ids


async def test_a_taxonomy_id_is_accepted_and_free_text_refused(post: Post) -> None:
    assert (await post(envelope([categorised("id", "187")]))).status == 200
    answer = await post(envelope([categorised("name", "Shoes"), categorised("path", "Apparel")]))
    assert answer.status == 400
    assert problems(answer.body) == [
        (0, "event_details.content_category", "NOT_A_TAXONOMY_ID"),
        (1, "event_details.content_category", "NOT_A_TAXONOMY_ID"),
    ]


async def test_an_id_outside_the_taxonomy_is_refused(
    post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation, "taxonomy_ids", lambda: KNOWN)
    assert (await post(envelope([categorised("known", "187")]))).status == 200
    answer = await post(envelope([categorised("unknown", "188")]))
    assert problems(answer.body) == [(0, "event_details.content_category", "NOT_A_TAXONOMY_ID")]


async def test_the_default_error_body_is_the_ads_api_error_response(post: Post) -> None:
    answer = await post(envelope([good_event("fine"), categorised("bad", "Shoes")]))
    assert answer.status == 400
    assert answer.body == {
        "sp_trace_id": answer.headers["sp-trace-id"],
        "messages": [
            "events[1].event_details.content_category: "
            "content_category must be a Google Product Taxonomy id"
        ],
        "error_codes": ["NOT_A_TAXONOMY_ID"],
    }


@pytest.mark.parametrize("settings", [SandboxSettings(error_body="detailed")])
async def test_the_detailed_error_body_names_each_event_and_field(post: Post) -> None:
    answer = await post(envelope([good_event("fine"), categorised("bad", "Shoes")]))
    assert answer.status == 400
    assert answer.body == {
        "message": "INVALID_REQUEST",
        "errors": [
            {
                "index": 1,
                "field": "event_details.content_category",
                "code": "NOT_A_TAXONOMY_ID",
                "message": "content_category must be a Google Product Taxonomy id",
            }
        ],
        "sp_trace_id": answer.headers["sp-trace-id"],
    }


@pytest.mark.parametrize(
    "settings", [SandboxSettings(faults=FaultSettings(refuse_user_data_keys=("clickID", "gender")))]
)
async def test_refused_user_data_keys_set_at_start_are_a_400_naming_them(
    post: Post, sandbox: SandboxServer
) -> None:
    clicked = good_event("clicked", user_data={**CLICK, "gender": "MALE"})
    answer = await post(envelope([good_event("plain"), clicked]))
    assert answer.status == 400
    assert problems(answer.body) == [
        (1, "user_data.clickID", "REFUSED"),
        (1, "user_data.gender", "REFUSED"),
    ]
    assert "spclid-1" not in str(answer.body)
    assert (await post(envelope([good_event("plain")]))).status == 200
    assert sandbox.state.accepted_ids() == {"plain": 1}


def test_refused_user_data_keys_change_at_run_time() -> None:
    clicked = envelope([good_event("clicked", user_data=CLICK)])
    with SandboxThread(SandboxSettings()) as sandbox:
        admin = SandboxAdmin(sandbox.admin_url)
        statuses = [_status(sandbox, clicked)]
        config = admin.configure(faults={"refuse_user_data_keys": ["clickID"]})
        assert config["faults"]["refuse_user_data_keys"] == ["clickID"]
        statuses.append(_status(sandbox, clicked))
        admin.configure(faults={"refuse_user_data_keys": []})
        statuses.append(_status(sandbox, clicked))
        assert statuses == [200, 400, 200]
        assert admin.accepted_ids() == {"clicked": 2}


def _status(sandbox: SandboxThread, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        sandbox.url,
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
