"""The collector settings a streaming process runs with."""

from __future__ import annotations

import gc
import weakref

from connector.process.gc_tuning import YOUNG_GENERATION_THRESHOLD, tune_for_streaming


class _Node:
    other: object = None


def test_startup_objects_are_frozen_and_cycles_still_collected() -> None:
    thresholds = gc.get_threshold()
    try:
        tune_for_streaming()
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 10_000  # the modules imported so far, at least
        node = _Node()
        node.other = node  # a cycle: only the collector frees it
        gone = weakref.ref(node)
        del node
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
