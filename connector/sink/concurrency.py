"""The adaptive in-flight limit (AIMD): halve on 429, add one after a run of successes.

Many requests are in flight when Spotify starts answering 429, and each of them will see it;
halving once per answer would collapse the limit to 1. So the limit has a generation: a request
remembers the generation it was sent under, and only a 429 of the current generation halves.
"""

from __future__ import annotations


class AdaptiveLimit:
    __slots__ = ("_ceiling", "_generation", "_limit", "_successes")

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self._ceiling = ceiling
        self._limit = ceiling
        self._generation = 0
        self._successes = 0

    @property
    def limit(self) -> int:
        """Requests allowed in flight now: 1 <= limit <= ceiling."""
        return self._limit

    @property
    def generation(self) -> int:
        """Changes at every decrease; give it back to `on_throttled`."""
        return self._generation

    def on_throttled(self, generation: int) -> bool:
        """A 429 for a request sent under `generation`. True if the limit was lowered."""
        if generation != self._generation:
            return False  # the limit already went down since that request left
        self._limit = max(1, self._limit // 2)
        self._generation += 1
        self._successes = 0
        return True

    def on_success(self) -> None:
        """One accepted request; after `limit` of them in a row the limit grows by one."""
        if self._limit >= self._ceiling:
            return
        self._successes += 1
        if self._successes >= self._limit:
            self._limit += 1
            self._successes = 0
