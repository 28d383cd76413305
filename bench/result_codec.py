"""`result_codec.encode_result` alone, in ns a call: 5,000 distinct delivered results (offsets,
event ids; an answer's trace id and times shared by 500) as `bench/main_process.py` builds them,
and 5,000 Spotify rejections (error code and message).

    .venv/bin/python -m bench.result_codec                             # compiled build
    SPOTIFY_CAPI_PURE_PYTHON=1 .venv/bin/python -m bench.result_codec  # Python sources

Prints the best and the median of 7 rounds (20 passes over the results each); bench/README.md
has the figures.
"""

from __future__ import annotations

import time

from bench.main_process import NOW_MS, answer, envelope, ready
from connector.models import DeliveryResult, DeliveryStatus, SourceCoordinates
from connector.process import compiled as _compiled
from connector.results.codec import encode_result
from connector.results.delivery import sent_result
from connector.sink import SinkItem

RESULTS = 5_000
FIRST_OFFSET = 12_345_678  # a partition some way in: 4-byte varints


def delivered() -> list[DeliveryResult]:
    out = []
    for n in range(FIRST_OFFSET, FIRST_OFFSET + RESULTS):
        e, r = envelope(n), ready(n)
        outcome = answer([SinkItem(None, r.event_id, r.payload)], n // 500)[0]
        out.append(sent_result(e.coordinates, e, r, outcome))
    return out


def rejected() -> list[DeliveryResult]:
    return [
        DeliveryResult(
            SourceCoordinates("in", 0, n, NOW_MS - 1000),
            DeliveryStatus.REJECTED_SPOTIFY,
            NOW_MS - 500,
            NOW_MS,
            event_id=f"event-{n}",
            event_name="PURCHASE",
            event_time_ms=NOW_MS - 60_000,
            http_status=400,
            error_code="spotify_400",
            error_message="event_time is too old",
            attempts=1,
            sp_trace_id=f"trace-{n // 500}",
            warnings=("invalid_gender:gender",),
            connection="default",
            identifiers=("email", "ip_address"),
            email_count=1,
        )
        for n in range(FIRST_OFFSET, FIRST_OFFSET + RESULTS)
    ]


def ns_a_call(results: list[DeliveryResult], passes: int = 20, rounds: int = 7) -> list[float]:
    out = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(passes):
            for result in results:
                encode_result(result)
        out.append((time.perf_counter() - began) / (passes * len(results)) * 1e9)
    return sorted(out)


def main() -> None:
    print(_compiled.describe())
    for name, results in (("delivered", delivered()), ("rejected", rejected())):
        figures = ns_a_call(results)
        print(f"{name}: best {figures[0]:.0f} ns a call, median {figures[len(figures) // 2]:.0f}")


if __name__ == "__main__":
    main()
