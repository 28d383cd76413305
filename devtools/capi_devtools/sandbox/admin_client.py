"""A small synchronous client of the sandbox's admin API (urllib only: usable from any process)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, cast
from urllib.parse import quote, urlsplit

from capi_devtools.sandbox.settings import OutageMode
from capi_devtools.sandbox.state import Stats


class SandboxAdminError(RuntimeError):
    """The admin API refused a call (for example an invalid setting)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"sandbox admin answered {status}: {detail}")
        self.status = status
        self.detail = detail


class SandboxAdmin:
    def __init__(self, admin_url: str, timeout_s: float = 5.0) -> None:
        if urlsplit(admin_url).scheme not in ("http", "https"):
            raise ValueError("admin_url must be an http(s) URL")
        self.admin_url = admin_url.rstrip("/") + "/"
        self.timeout_s = timeout_s

    def health(self) -> bool:
        try:
            return self._call("GET", "health").get("status") == "ok"
        except (OSError, SandboxAdminError):
            return False

    def stats(self) -> Stats:
        wire = self._call("GET", "stats")
        return Stats(
            requests_total=wire["requests_total"],
            requests_by_status=wire["requests_by_status"],
            events_accepted=wire["events_accepted"],
            unique_event_ids=wire["unique_event_ids"],
            busiest_second=wire.get("busiest_second", 0),
            ads_requests_by_status=wire.get("ads_requests_by_status", {}),
            ads_tokens_issued=wire.get("ads_tokens_issued", 0),
            ads_events_counted=wire.get("ads_events_counted", 0),
            ads_events_lost=wire.get("ads_events_lost", 0),
        )

    def accepted_ids(self) -> dict[str, int]:
        """Each accepted event id with the number of times it arrived."""
        return cast(dict[str, int], self._call("GET", "events")["event_ids"])

    def accepted_event(self, event_id: str) -> tuple[int, dict[str, Any] | None] | None:
        """(times accepted, last accepted body) for one id; None if it was never accepted."""
        try:
            wire = self._call("GET", f"events/{quote(event_id, safe='')}")
        except SandboxAdminError as exc:
            if exc.status == 404:
                return None
            raise
        return wire["count"], wire["body"]

    def reset(self) -> None:
        self._call("POST", "reset")

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """A partial update, e.g. `configure(faults={"share_503": 0.2, "seed": 7})`."""
        return self._call("PUT", "config", changes)

    def start_outage(self, seconds: float, mode: OutageMode = "refuse") -> None:
        self._call("POST", "outage", {"seconds": seconds, "mode": mode})

    def end_outage(self) -> None:
        self._call("DELETE", "outage")

    def throttle_ads_api(self, requests: int, retry_after_s: int = 1) -> None:
        """Answer the next `requests` Ads API requests with 429 and `Retry-After: retry_after_s`."""
        self._call("POST", "ads/throttle", {"requests": requests, "retry_after_s": retry_after_s})

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.admin_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                return cast(dict[str, Any], json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise SandboxAdminError(exc.code, detail) from None
