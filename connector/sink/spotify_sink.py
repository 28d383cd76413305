"""SpotifySink: batches items, sends them with bounded concurrency, and reports one outcome each.

How a batch travels:
  add() → pending → (batch_size reached, or linger_ms passed, or flush) → ready queue
  ready → one task per request, at most `limit` at once (AIMD below max_in_flight)
  answer → outcomes (2xx, single-event 400/413, other 4xx, retries exhausted)
         → halves at the front of the ready queue (400/413 of several events)
         → a smaller copy at the front (400 of one event: connector/sink/heal.py), until
           accepted or there is nothing left to remove
         → the whole batch again at the front, without a field the connection is now known to
           refuse (400 naming it: connector/sink/learned.py), instead of halves
         → back to the front of the ready queue after a backoff sleep (429, 5xx, transport)
         → held while the token is refused (401/403); one prober resends the first held batch
           every auth_retry_interval_s, and its acceptance releases everything
Every request takes a token of the request-rate cap first (connector/sink/rate.py), when one
is set; a batch waits at the front of the ready queue for it, holding no request slot.

Everything runs on one event loop, so the counters need no locks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from opentelemetry import context as otel_context

from connector.config import SinkSettings, SpotifySettings
from connector.errors import ConfigError
from connector.models import new_tuple
from connector.sink.concurrency import AdaptiveLimit
from connector.sink.encoding import BodyEncoder
from connector.sink.headers import request_headers
from connector.sink.heal import Healing, next_step
from connector.sink.items import (
    NullObserver,
    SendOutcome,
    SendStatus,
    SinkError,
    SinkItem,
    SinkObserver,
)
from connector.sink.learned import LearnedRefusals, Outgoing, RefusalBook, StrippedField
from connector.sink.rate import TokenBucket
from connector.sink.redaction import redactor
from connector.sink.retry import RetryPolicy, Verdict, classify_status, retry_cause
from connector.sink.token import TokenSource
from connector.sink.transport import Answer, TransportFailure, post_batch

log = logging.getLogger(__name__)

Result = Answer | TransportFailure


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True, eq=False)
class _Batch:
    """Items sent together; the body is built once, so every retry sends the same bytes."""

    items: tuple[SinkItem, ...]
    body: bytes
    requests: int = 0  # every POST of this body, auth probes included (reported as attempts)
    token: int = 0  # the generation of the token it was last sent with (connector/sink/token.py)
    failures: int = 0  # retriable failures, counted against max_attempts
    healing: Healing | None = None  # a lone event sent again with less after a 400
    probe: tuple[str, ...] = ()  # learned refusals this batch sends again, to see if they pass
    learned: int = 0  # the learned refusals' generation it was built under
    cut: tuple[str, ...] = ()  # learned refusals cut out of the body (connector/sink/learned.py)


def tls_context(spotify: SpotifySettings) -> ssl.SSLContext:
    """Verifies the endpoint's certificate; `ca_bundle` adds to the system roots."""
    tls = ssl.create_default_context()
    if spotify.ca_bundle is not None:
        tls.load_verify_locations(cafile=str(spotify.ca_bundle))
    return tls


class SpotifySink:
    def __init__(
        self,
        spotify: SpotifySettings,
        settings: SinkSettings,
        on_outcomes: Callable[[Sequence[SendOutcome]], None],
        *,
        observer: SinkObserver | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock_ms: Callable[[], int] = wall_clock_ms,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        name: str = "default",
    ) -> None:
        token = TokenSource(spotify, name)  # ConfigError here, not an error on every request
        if not spotify.connection_id:
            raise ConfigError("spotify.connection_id is not set")
        self._spotify = spotify
        self.name = name  # the connection's name, as results and metrics show it
        self._settings = settings
        self._on_outcomes = on_outcomes
        self._observer: SinkObserver = observer or NullObserver()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep = sleep
        self._clock_ms = clock_ms
        self._trace_configs = list(trace_configs)
        self._encoder = BodyEncoder(spotify.connection_id)
        self._masks: tuple[tuple[str, ...], Callable[[str], str]] = ((), _unmasked)
        self._policy = RetryPolicy(
            settings.max_attempts, settings.backoff_initial_s, settings.backoff_max_s
        )
        self._limit = AdaptiveLimit(settings.max_in_flight)
        self._batch_size = settings.batch_size
        self._learned = (
            LearnedRefusals(
                name,
                RefusalBook(
                    settings.learn_after,
                    round(settings.learn_window_s * 1000),
                    round(settings.learned_ttl_s * 1000),
                ),
                self._observer,
                settings.learn_window_s,
            )
            if settings.learn_refusals
            else None
        )
        rate = settings.max_requests_per_second
        self._rate = None if rate is None else TokenBucket(rate, time.monotonic)
        self._rate_timer: asyncio.TimerHandle | None = None
        self._rate_waiting_since: float | None = None  # monotonic, while a batch waits for a token

        self._session: aiohttp.ClientSession | None = None
        self._token = token
        self._pending: list[SinkItem] = []
        self._linger: asyncio.TimerHandle | None = None
        self._ready: deque[_Batch] = deque()
        self._held: deque[_Batch] = deque()  # refused with 401/403, waiting for the token to work
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending = 0  # requests in flight, the auth probe excluded
        self._backing_off = 0  # batches sleeping before their next attempt
        self._unanswered = 0  # items added without an outcome yet
        self._auth_failing = False
        self._probing = False  # the auth probe's request is in flight
        self._progress = asyncio.Event()
        self._failures: list[BaseException] = []
        self._report_in_flight()

    def __repr__(self) -> str:
        return (
            f"SpotifySink(url={self._spotify.url!r}, in_flight_events={self._unanswered}, "
            f"auth_failing={self._auth_failing})"
        )

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> SpotifySink:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                ssl=tls_context(self._spotify), limit=self._settings.max_in_flight + 1
            ),
            timeout=aiohttp.ClientTimeout(total=self._spotify.request_timeout_s),
            trace_configs=self._trace_configs or None,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stops at once: items without an outcome stay without one (call flush first)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._rate_timer is not None:
            self._rate_timer.cancel()
            self._rate_timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if exc_type is None:
            self._raise_failures()

    # --- the public surface --------------------------------------------------------------

    @property
    def in_flight_events(self) -> int:
        """Items added but without an outcome yet (pending, sending, backing off or held)."""
        return self._unanswered

    @property
    def auth_failing(self) -> bool:
        """Spotify refuses the token or connection id (401/403) right now."""
        return self._auth_failing

    @property
    def failing_connections(self) -> tuple[str, ...]:
        return (self.name,) if self._auth_failing else ()

    @property
    def stripped_fields(self) -> tuple[StrippedField, ...]:
        """The fields this connection sends no more because Spotify refuses them (learned)."""
        return () if self._learned is None else self._learned.snapshot

    @property
    def batch_size(self) -> int:
        """The batch size in force: the setting, lowered by 413 answers."""
        return self._batch_size

    @property
    def in_flight_limit(self) -> int:
        """Requests allowed at once now (adaptive, at most max_in_flight)."""
        return self._limit.limit

    def raise_if_failed(self) -> None:
        """Raise SinkError if a sink task or the outcome callback failed; safe from any thread."""
        self._raise_failures()

    def add(self, item: SinkItem) -> None:
        """Queue one item. Never blocks: back-pressure is the caller's, from in_flight_events."""
        if self._session is None:
            raise RuntimeError("SpotifySink.add() outside 'async with'")
        self._pending.append(item)
        self._unanswered += 1
        if len(self._pending) >= self._batch_size:
            self._cut(everything=False)
        elif self._linger is None:
            loop = asyncio.get_running_loop()
            self._linger = loop.call_later(self._settings.linger_ms / 1000, self._on_linger)

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - the API's name
        """Send the partial batch and wait until every item has an outcome.

        True when drained. False on timeout, or as soon as nothing can move because the token
        is refused (the held items keep waiting for the prober). Raises SinkError if the
        outcome callback or a sink task failed.
        """
        self._cut(everything=True)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            self._raise_failures()
            if self._unanswered == 0:
                return True
            if self._auth_failing and not (self._sending or self._backing_off or self._probing):
                return False
            self._progress.clear()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return False

    # --- batching and dispatch -----------------------------------------------------------

    def _on_linger(self) -> None:
        self._linger = None
        self._cut(everything=True)

    def _cut(self, *, everything: bool) -> None:
        """Move pending items into batches: full ones, and the partial one if `everything`."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        pending, size = self._pending, self._batch_size
        cut = len(pending) if everything else len(pending) - len(pending) % size
        for start in range(0, cut, size):
            self._ready.append(self._new_batch(pending[start : min(start + size, cut)]))
        del pending[:cut]
        if pending:
            loop = asyncio.get_running_loop()
            self._linger = loop.call_later(self._settings.linger_ms / 1000, self._on_linger)
        self._pump()

    def _new_batch(self, items: Sequence[SinkItem]) -> _Batch:
        if self._learned is None:
            return _Batch(tuple(items), self._encoder.encode(item.payload for item in items))
        ready = self._learned.outgoing(items, self._clock_ms(), self._encoder.encode)
        return _Batch(
            ready.items,
            ready.body,
            probe=ready.probe,
            learned=self._learned.generation,
            cut=ready.cut,
        )

    def _up_to_date(self, batch: _Batch) -> _Batch:
        """A batch built before the connection learned a field, rebuilt without it."""
        learned = self._learned
        if learned is None or batch.learned == learned.generation or batch.probe:
            return batch
        again = self._new_batch(batch.items)
        if not again.probe and again.body == batch.body:
            batch.learned = again.learned
            return batch
        again.requests, again.failures, again.healing = (
            batch.requests,
            batch.failures,
            batch.healing,
        )
        return again

    def _pump(self) -> None:
        """Start requests while there is room and a token; none while the token is refused."""
        while self._ready and not self._auth_failing and self._sending < self._limit.limit:
            if self._rate is not None and not self._take_token():
                break
            batch = self._up_to_date(self._ready.popleft())
            self._sending += 1
            self._spawn(self._send(batch, self._limit.generation))
        self._report_in_flight()

    def _take_token(self) -> bool:
        """A token of the rate cap now; else False, and a pump is scheduled for when one is."""
        assert self._rate is not None  # noqa: S101 - the caller checked
        wait_s = self._rate.take()
        now = time.monotonic()
        if wait_s == 0.0:
            if self._rate_waiting_since is not None:
                self._observer.on_rate_wait(now - self._rate_waiting_since)
                self._rate_waiting_since = None
            return True
        if self._rate_waiting_since is None:
            self._rate_waiting_since = now
        if self._rate_timer is None:
            loop = asyncio.get_running_loop()
            self._rate_timer = loop.call_later(wait_s, self._on_token)
        return False

    def _on_token(self) -> None:
        self._rate_timer = None
        self._pump()

    async def _next_token(self) -> None:
        """Wait for a token outside the pump (the auth probe)."""
        while self._rate is not None and (wait_s := self._rate.take()) > 0:  # noqa: ASYNC110 - a clock
            await asyncio.sleep(wait_s)

    def _report_in_flight(self) -> None:
        self._observer.on_in_flight(self._sending, self._limit.limit)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            log.error(
                "sink task failed: %s; the connector stops",
                type(failure).__name__,
                exc_info=failure,
            )
            self._failures.append(failure)
        self._progress.set()

    async def _send(self, batch: _Batch, generation: int) -> None:
        try:
            result = await self._post(batch)
        finally:
            self._sending -= 1
            self._report_in_flight()
        await self._act_on(batch, result, generation)

    async def _post(self, batch: _Batch) -> Result:
        session = self._session
        if session is None:
            raise RuntimeError("SpotifySink is closed")
        batch.requests += 1
        batch.token = self._token.generation
        loop = asyncio.get_running_loop()
        started = loop.time()
        # The request's span (aiohttp's tracing) is a child of its events' batch, when traced.
        trace = batch.items[0].trace
        token = None if trace is None else otel_context.attach(trace)  # type: ignore[arg-type]
        try:
            result = await post_batch(
                session,
                url=self._spotify.url,
                headers=request_headers(self._token.token),
                body=batch.body,
                timeout_s=self._spotify.request_timeout_s,
                redact=self._redact,
            )
        finally:
            if token is not None:
                otel_context.detach(token)
        status = result.status if isinstance(result, Answer) else None
        self._observer.on_request(status, len(batch.items), loop.time() - started)
        return result

    # --- what an answer does -------------------------------------------------------------

    async def _act_on(self, batch: _Batch, result: Result, generation: int) -> None:
        """Act on one answer; sleeps here (holding no request slot) when it must retry."""
        delay = self._decide(batch, result, generation)
        if delay is not None:
            self._backing_off += 1
            try:
                await self._sleep(delay)
            finally:
                self._backing_off -= 1
            self._ready.appendleft(batch)  # older items first: it lets offsets advance
        self._pump()
        self._progress.set()

    def _decide(self, batch: _Batch, result: Result, generation: int) -> float | None:
        """Outcomes, splits or holds for this answer; the backoff delay if it must be retried."""
        if isinstance(result, TransportFailure):
            return self._retry_or_exhaust(batch, None, cause=result.cause, message=result.message)
        verdict = classify_status(result.status)
        if verdict is Verdict.DELIVERED:
            self._limit.on_success()
            self._report_in_flight()
            self._deliver(batch, result)
        elif verdict is Verdict.AUTH:
            if self._token.reload() or batch.token != self._token.generation:
                self._ready.appendleft(batch)  # sent with a token since replaced: the new one
            else:
                self._hold(batch, result.status)
        elif verdict is Verdict.BISECT:
            if not self._learn(batch, result):
                self._split_or_reject(batch, result, "spotify_400")
        elif verdict is Verdict.SHRINK:
            self._end_probe(batch)
            self._batch_size = max(1, min(self._batch_size, len(batch.items) // 2))
            self._split_or_reject(batch, result, "too_large")
        elif verdict is Verdict.REJECT:
            self._end_probe(batch)
            self._reject(batch, result, f"spotify_{result.status}")
        else:
            if result.status == 429 and self._limit.on_throttled(generation):
                log.info("429 from Spotify: in-flight limit lowered to %d", self._limit.limit)
                self._report_in_flight()
            return self._retry_or_exhaust(
                batch, result, cause=None, message=f"HTTP {result.status}: {result.message}"
            )
        return None

    def _retry_or_exhaust(
        self, batch: _Batch, answer: Answer | None, *, cause: str | None, message: str
    ) -> float | None:
        batch.failures += 1
        status = None if answer is None else answer.status
        if self._policy.exhausted(batch.failures):
            self._end_probe(batch)
            log.warning(
                "giving up on a batch of %d events after %d attempts (last: %s)",
                len(batch.items),
                batch.requests,
                retry_cause(status, cause),
            )
            self._emit(
                batch,
                SendStatus.RETRY_EXHAUSTED,
                http_status=status,
                error_code="retry_exhausted",
                error_message=message,
                sp_trace_id=None if answer is None else answer.sp_trace_id,
            )
            return None
        self._observer.on_retry(retry_cause(status, cause))
        return self._policy.delay(
            batch.failures,
            self._rng,
            status=status,
            retry_after=None if answer is None else answer.retry_after,
            now_s=self._clock_ms() / 1000,
        )

    def _split_or_reject(self, batch: _Batch, answer: Answer, code: str) -> None:
        if len(batch.items) == 1:
            if not (code == "spotify_400" and self._heal(batch, answer)):
                self._reject(batch, answer, code)
            return
        middle = len(batch.items) // 2
        # Each half is a new request with its own attempts; both go first, in order.
        self._ready.appendleft(self._new_batch(batch.items[middle:]))
        self._ready.appendleft(self._new_batch(batch.items[:middle]))

    def _learn(self, batch: _Batch, answer: Answer) -> bool:
        """Learn from a 400; True when the batch went again whole, without a field the
        connection is now known to refuse (rather than halves, or a heal)."""
        learned = self._learned
        if learned is None:
            return False
        learned.refused(batch.items, answer, batch.probe, self._clock_ms())
        learned.probe_over(batch.probe, accepted=False)  # a field it names was renewed above
        again = self._new_batch(batch.items)
        if again.body == batch.body:
            learned.probe_over(again.probe, accepted=False)  # never sent
            return False
        again.requests = batch.requests  # attempts count every request for these events
        self._ready.appendleft(again)
        return True

    def _end_probe(self, batch: _Batch) -> None:
        """A probe that ends without a verdict on its fields: another batch probes."""
        if batch.probe and self._learned is not None:
            self._learned.probe_over(batch.probe, accepted=False)

    def _heal(self, batch: _Batch, answer: Answer) -> bool:
        """Send a lone refused event again with less; False when there is nothing to try."""
        if not self._settings.heal_rejected:
            return False
        healing = batch.healing or Healing(answer.message)
        (item,) = batch.items
        step = next_step(item.payload, answer.named_fields, healing)
        if step is None:
            return False
        smaller = self._new_batch([item._replace(payload=step.payload)])
        smaller.requests = batch.requests  # attempts count every request for this event
        smaller.healing = step.healing
        self._ready.appendleft(smaller)
        return True

    def _deliver(self, batch: _Batch, answer: Answer) -> None:
        if batch.probe and self._learned is not None:
            self._learned.probe_over(batch.probe, accepted=True)
        healing = batch.healing
        if healing is not None:
            for field in healing.removed:
                self._observer.on_field_removed(field)
        self._emit(
            batch,
            SendStatus.DELIVERED,
            http_status=answer.status,
            sp_trace_id=answer.sp_trace_id,
            removed_fields=() if healing is None else healing.removed,
        )

    def _reject(self, batch: _Batch, answer: Answer, code: str) -> None:
        healing = batch.healing
        self._emit(
            batch,
            SendStatus.REJECTED,
            http_status=answer.status,
            error_code=code,
            error_message=answer.message if healing is None else healing.refused(answer.message),
            sp_trace_id=answer.sp_trace_id,
        )

    def _emit(
        self,
        batch: _Batch,
        status: SendStatus,
        *,
        http_status: int | None,
        error_code: str | None = None,
        error_message: str | None = None,
        sp_trace_id: str | None = None,
        removed_fields: tuple[str, ...] = (),
    ) -> None:
        """One outcome an item; `removed_fields` (healing's) follow what the item went without."""
        now, attempts = self._clock_ms(), batch.requests
        # One outcome an item, the fields in SendOutcome's order through new_tuple: ~0.6 µs
        # an item cheaper than its keyword __new__, on the HTTP thread (bench/README.md).
        went_without = Outgoing(batch.items, batch.body, batch.cut).went_without
        learned = [went_without(item) for item in batch.items]
        outcomes = [
            new_tuple(
                SendOutcome,
                (
                    item,
                    status,
                    http_status,
                    error_code,
                    error_message,
                    attempts,
                    sp_trace_id,
                    now,
                    (*without, *removed_fields) if without else removed_fields,
                ),
            )
            for item, without in zip(batch.items, learned, strict=True)
        ]
        if self._learned is not None:
            self._learned.went_without(learned)
        self._unanswered -= len(outcomes)
        self._progress.set()
        try:
            self._on_outcomes(outcomes)
        except Exception as exc:
            # The items are answered for the sink but the caller may have lost them: make it loud.
            log.exception("on_outcomes callback failed for %d outcomes", len(outcomes))
            self._failures.append(exc)

    # --- 401/403 -------------------------------------------------------------------------

    def _hold(self, batch: _Batch, status: int) -> None:
        self._held.append(batch)
        if self._auth_failing:
            return
        self._auth_failing = True
        log.error(
            "Spotify refused the token or connection id (HTTP %d): holding all batches, "
            "retrying every %gs",
            status,
            self._settings.auth_retry_interval_s,
        )
        self._observer.on_auth_state(True)
        self._spawn(self._probe_auth())

    async def _probe_auth(self) -> None:
        """Resend the first held batch every interval until Spotify accepts the token."""
        while True:
            await self._sleep(self._settings.auth_retry_interval_s)
            await self._next_token()
            batch = self._held[0]
            generation = self._limit.generation
            self._probing = True
            try:
                result = await self._post(batch)
            finally:
                self._probing = False
                self._progress.set()
            refused = isinstance(result, Answer) and classify_status(result.status) is Verdict.AUTH
            if refused or isinstance(result, TransportFailure):
                continue  # still refused, or unknown: wait another interval
            self._held.popleft()
            self._end_auth_failure()
            await self._act_on(batch, result, generation)
            return

    def _end_auth_failure(self) -> None:
        self._auth_failing = False
        log.warning("Spotify accepts the token again: releasing %d held batches", len(self._held))
        self._observer.on_auth_state(False)
        self._ready.extendleft(reversed(self._held))
        self._held.clear()
        self._pump()

    # --- secrets and failures ------------------------------------------------------------

    def _redact(self, text: str) -> str:
        """Every token this connection has sent is masked (a rotated one may still be echoed)."""
        used, mask = self._masks
        if used is not self._token.used:
            used = self._token.used
            masks = [redactor(token) for token in used]
            mask = masks[0] if len(masks) == 1 else _masking_all(masks)
            self._masks = (used, mask)
        return mask(text)

    def _raise_failures(self) -> None:
        if self._failures:
            first = self._failures[0]
            raise SinkError(
                f"the sink cannot vouch for its outcomes: {type(first).__name__} "
                f"({len(self._failures)} failure(s), see the log)"
            ) from first


def _unmasked(text: str) -> str:
    return text


def _masking_all(masks: list[Callable[[str], str]]) -> Callable[[str], str]:
    def mask(text: str) -> str:
        for one in masks:
            text = one(text)
        return text

    return mask
