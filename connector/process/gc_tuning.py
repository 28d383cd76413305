"""The cyclic garbage collector, set for a process that streams records for a long time."""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 20_000  # allocations between young collections (Python: 700)


def tune_for_streaming() -> None:
    """Call once the process has imported and built what it keeps for its whole life.

    The per-record path makes no reference cycles, yet with the default thresholds the collector
    ran every 700 allocations, and every few seconds it walked every object alive, the imports
    included: 18 % of the Kafka process's CPU in a profile. Frozen, what startup built is left
    out of every later walk; a larger young generation lets most per-record objects die before a
    collection sees them. Cycles are still collected, only less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 10, 10)
