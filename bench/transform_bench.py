"""Transform throughput on one core: `.venv/bin/python -m bench.transform_bench [--events N]`.

Realistic events with every property of the table set, a mix of event names like a shop's
stream, and a unique email and phone per event so the phone cache does not flatter the figure.
Phones: 80 % written internationally (`+44 20 7946 0123`, `+1 (415) 555-0123`), 20 % in the
national format of the default region (`--region US`: `(415) 555-0123`, the fast national
path; `--region GB`: `07700 900123`, which goes through phonenumbers.parse every time).
`--national-share 1.0 --region GB` is the worst case. `--profile` prints a cProfile summary.
Each round transforms fresh events (new numbers), and the figure is CPU time of this process.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import random
import statistics
import time
from collections.abc import Callable

from connector.config import TransformSettings
from connector.models import Accepted, PropertyValue, SourceCoordinates, TrackingEvent
from connector.transform import Transformer

NOW_MS = 1_769_171_696_000  # 2026-01-23T12:34:56Z
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
EVENT_MIX = (
    ("Product Viewed", 40),
    ("View", 20),
    ("Add To Cart", 15),
    ("Checkout Started", 8),
    ("Order Completed", 7),
    ("Signed Up", 5),
    ("Lead", 5),
)
MAPPING = {
    "Product Viewed": "PRODUCT",
    "Checkout Started": "CHECK_OUT",
    "Order Completed": "PURCHASE",
    "Signed Up": "SIGN_UP",
}
INTERNATIONAL = (
    lambda r: f"+1 ({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}",
    lambda r: f"+44 20 7946 {r.randint(0, 9999):04d}",
    lambda r: f"+44 7700 900{r.randint(0, 999):03d}",
    lambda r: f"+49 30 {r.randint(1000000, 9999999)}",
    lambda r: (
        f"+33 6 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}"
    ),
    lambda r: f"+55 11 9{r.randint(1000, 9999)}-{r.randint(1000, 9999)}",
    lambda r: f"+91 98{r.randint(100, 999)} {r.randint(10000, 99999)}",
    lambda r: f"+81 90-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}",
)


NATIONAL: dict[str, Callable[[random.Random], str]] = {
    # US: national prefix "1" is plain digits, so the fast national path applies.
    "US": lambda r: f"({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}",
    # GB: its prefix rule is a pattern, so every number goes through phonenumbers.parse.
    "GB": lambda r: f"07700 9{r.randint(0, 99999):05d}",
}


def make_events(
    count: int, national_share: float, seed: int = 7, region: str = "US"
) -> list[TrackingEvent]:
    national = NATIONAL[region]
    r = random.Random(seed)
    names = [name for name, _ in EVENT_MIX]
    weights = [weight for _, weight in EVENT_MIX]
    events = []
    for i in range(count):
        phone = national(r) if r.random() < national_share else r.choice(INTERNATIONAL)(r)
        props: dict[str, PropertyValue] = {
            "$event_id": f"evt-{i:08d}",
            "$event_time": NOW_MS - r.randint(1_000, 86_400_000),
            "$action_source": "WEB",
            "opt_out_targeting": r.random() < 0.8,
            "event_source_url": f"https://shop.example/products/{r.randint(1, 5000)}?ref=spotify",
            "email": f"  Customer.{i}@Example{i % 97}.com ",
            "phone": phone,
            "$ip": ".".join(str(r.randint(1, 223)) for _ in range(4)),
            "$device_id": f"device-{r.getrandbits(64):016x}",
            "$user_agent": USER_AGENT,
            "gender": r.choice(("male", "female", "F", "m")),
            "request_ip_address": f"198.51.100.{r.randint(1, 254)}",
            "event_ip_address": f"2001:db8::{r.getrandbits(16):x}",
            "platform_id": "web",
            "session_id": f"s-{r.getrandbits(48):012x}",
            "alias_id": f"alias-{i}",
            "cookie1": f"c1.{r.getrandbits(64):016x}",
            "page_id": f"p{r.randint(1, 999)}",
            "connection_type": r.choice(("wifi", "cellular")),
            "age_group": r.choice(("18-24", "25-34", "35-44")),
            "$spclid": f"spclid-{r.getrandbits(64):016x}",
            "amount": round(r.uniform(5, 500), 2),
            "currency": r.choice(("USD", "EUR", "GBP", "usd")),
            "content_name": "Running Shoes",
            "content_category": "Apparel & Accessories > Shoes",
        }
        name = r.choices(names, weights)[0]
        events.append(TrackingEvent(name, props, timestamp_ms=NOW_MS - 5_000))
    return events


def run(events: list[TrackingEvent], transformer: Transformer) -> tuple[float, int]:
    """(CPU seconds of this process, accepted count). CPU time, not wall time: the figure is
    per core, and other processes on a shared machine must not count against it."""
    accepted = 0
    transform = transformer.transform
    start = time.process_time()
    for offset, event in enumerate(events):
        outcome = transform(event, SourceCoordinates("bench", 0, offset), NOW_MS)
        accepted += isinstance(outcome, Accepted)
    return time.process_time() - start, accepted


def _calibration_us() -> float:
    """A fixed pure-Python workload, printed beside the result: on a shared or slow machine it
    says how much of a low figure is the machine rather than the code."""
    best = math.inf
    for _ in range(5):
        start = time.process_time()
        for _ in range(2_000):
            sum(range(1000))
        best = min(best, (time.process_time() - start) / 2_000 * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--national-share", type=float, default=0.2)
    parser.add_argument("--region", choices=sorted(NATIONAL), default="US")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    settings = TransformSettings(event_name_mapping=MAPPING, default_phone_region=args.region)
    transformer = Transformer(settings)
    run(
        make_events(2_000, args.national_share, seed=1, region=args.region), transformer
    )  # warm metadata, regexes
    if args.profile:
        events = make_events(args.events, args.national_share, region=args.region)
        profiler = cProfile.Profile()
        profiler.enable()
        run(events, transformer)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    rates = []
    for round_number in range(args.rounds):
        # fresh phones each round: the parse cache must not remember the last round's numbers
        events = make_events(
            args.events, args.national_share, seed=100 + round_number, region=args.region
        )
        elapsed, accepted = run(events, transformer)
        assert accepted == len(events), "every bench event is meant to be valid"
        rates.append(len(events) / elapsed)
        print(f"round {round_number + 1}: {len(events) / elapsed:,.0f} events/s")
    print(f"machine calibration: sum(range(1000)) takes {_calibration_us():.1f} µs (CPU time)")
    print(
        f"{args.events} events x {args.rounds} rounds, national phone share "
        f"{args.national_share:.0%} ({args.region}): best {max(rates):,.0f}, median "
        f"{statistics.median(rates):,.0f} events/s per core (CPU time)"
    )


if __name__ == "__main__":
    main()
