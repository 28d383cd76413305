"""`fetch` gets the broker jars; `kafka` runs a local broker until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from capi_devtools.errors import LocalInfraError
from capi_devtools.localinfra import KafkaBroker, kafka_libs


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m capi_devtools.localinfra")
    parser.add_argument("action", choices=["fetch", "kafka"])
    args = parser.parse_args()
    try:
        if args.action == "fetch":
            print(f"Kafka jars ready in {kafka_libs()}")
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with KafkaBroker() as broker:
            print(f"Kafka broker on {broker.bootstrap} (started in {broker.start_seconds:.1f} s)")
            sys.stdout.flush()
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except LocalInfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
