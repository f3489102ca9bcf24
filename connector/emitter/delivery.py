"""Delivery: lease due deliveries, POST the frozen event bytes, record every attempt.

Each attempt sends the event's body byte-identical to ``subscription.url + event.path`` with
fresh Standard Webhooks headers (``webhook-timestamp`` is the attempt time), reads at most
20 KB of the answer without decompressing it, never follows a redirect (a 3xx is a failure),
and records the outcome by the rules of :mod:`~connector.emitter.outcomes` (delivered,
retried per the :class:`RetrySchedule`, dead letter, endpoint disabled). Store calls run in
worker threads, so the event loop never waits on the database.

At most ``per_endpoint`` requests are in flight to one subscription and ``concurrency``
overall. Tests drive :meth:`Deliverer.run_once` / :meth:`Deliverer.drain` with an injected
clock and transport; the emitter runs :meth:`Deliverer.run_forever`.

Example::

    async with Deliverer(store, guard=Guard(allow_private=True)) as deliverer:
        await deliverer.drain()
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from functools import partial
from importlib import metadata
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import httpx
from anyio.abc import TaskGroup

from connector.emitter.breaker import CircuitBreaker
from connector.emitter.completions import GroupCommit
from connector.emitter.guard import Guard
from connector.emitter.outcomes import Outcome, delivered, record_attempt
from connector.emitter.schedule import RetrySchedule
from connector.emitter.sender import GuardedSender, Sender, SendFailed, SendTimeout, TransportSender
from connector.emitter.signing import sign
from connector.emitter.store import Attempt, Lease, Store
from connector.errors import StoreError, UnsafeDestinationError

if TYPE_CHECKING:
    from connector.emitter.metrics import Metrics

__all__ = ["RESPONSE_LIMIT", "Deliverer", "Outcome", "user_agent"]

log = logging.getLogger("connector.emitter")
T = TypeVar("T")
RESPONSE_LIMIT = 20 * 1024
# docs/architecture.md, "Delivery": a lease outlives the request by 15 s, so only a dead worker's delivery
# is ever taken over. A leased delivery may first wait for its endpoint's slot (at most one
# request time, since no more than ``per_endpoint`` wait), hence two timeouts.
LEASE_MARGIN = 15.0
# While the store fails with a transient error (disk full, busy), wait this long at most
# between tries; the work in hand is kept meanwhile.
STORE_BACKOFF_MAX = 30.0
# With a store that tells when work is queued (PostgreSQL's NOTIFY), the table is still read
# this often, for retries falling due.
LISTENING_IDLE = 0.5
# A busy deliverer leases again when half its capacity is free; with less free, it still
# leases at least this often (seconds), so slow endpoints cannot hold new work back long.
LEASE_PATIENCE = 0.2


def user_agent() -> str:
    """``connector-webhooks/<version>``."""
    try:
        version = metadata.version("connector")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"connector-webhooks/{version}"


class Deliverer:
    """Sends due deliveries from a :class:`Store`.

    ``transport`` replaces the guarded network path (tests: ``httpx.ASGITransport``);
    without it, every connection goes through :class:`~connector.emitter.sender.GuardedSender`,
    which dials only addresses the guard approved. The URL text is checked by the guard before every attempt
    either way. ``clock`` is the time source for scheduling and for ``webhook-timestamp``.
    """

    def __init__(
        self,
        store: Store,
        *,
        guard: Guard | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        schedule: RetrySchedule | None = None,
        time_scale: float | None = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        per_endpoint: int = 10,
        concurrency: int = 100,
        worker: str | None = None,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.store = store
        self.guard = guard or Guard()
        self.clock = clock
        schedule = schedule or RetrySchedule()
        if time_scale is not None:
            schedule = RetrySchedule(
                delays=schedule.delays,
                jitter=schedule.jitter,
                time_scale=time_scale,
                throttle_floor=schedule.throttle_floor,
                max_retry_after=schedule.max_retry_after,
                disable_after=schedule.disable_after,
            )
        self.schedule = schedule
        self.breaker = breaker or CircuitBreaker(time_scale=schedule.time_scale)
        self.total_timeout = total_timeout
        self.per_endpoint = per_endpoint
        self.concurrency = concurrency
        self.worker = worker or f"worker-{uuid.uuid4().hex[:12]}"
        self.lease_seconds = 2 * total_timeout + LEASE_MARGIN
        self._rng = rng or random.Random()
        self._user_agent = user_agent()
        # Leased and not finished, per subscription (running or waiting for a slot).
        self._inflight: Counter[str] = Counter()
        self._slots: dict[str, anyio.Semaphore] = {}
        self._wake = anyio.Event()
        # Set while run_forever runs: transient store failures are then waited out.
        self._stop: anyio.Event | None = None
        self._store_trouble = False
        # Successful attempts are committed several per transaction (group commit).
        self.completions = GroupCommit(store, run=self._durably)
        self.metrics: Metrics | None = None
        """Where attempts are counted (``connector emit --metrics-port``), if anywhere."""
        self.failure: str | None = None
        """Why :meth:`run_forever` stopped early: the store failed for good."""
        # One small pool per endpoint, so a slow endpoint never holds connections another
        # endpoint needs.
        self._sender: Sender = (
            TransportSender(
                transport,
                connect_timeout=connect_timeout,
                total_timeout=total_timeout,
                limit=RESPONSE_LIMIT,
            )
            if transport is not None
            else GuardedSender(
                self.guard,
                per_endpoint=per_endpoint,
                connect_timeout=connect_timeout,
                total_timeout=total_timeout,
                limit=RESPONSE_LIMIT,
            )
        )

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (the store is the caller's)."""
        await self._sender.aclose()

    # one attempt -------------------------------------------------------------------------

    def _headers(self, lease: Lease, timestamp: int) -> dict[str, str]:
        event = lease.event
        return {
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(event.id, timestamp, event.body, lease.subscription.secrets),
            "content-type": "application/json",
            "user-agent": self._user_agent,
            # Ask for no compression; what comes anyway is stored raw, never inflated.
            "accept-encoding": "identity",
        }

    async def deliver(self, lease: Lease) -> Outcome:
        """Make one attempt for a leased delivery and record it in the store."""
        attempt, retry_after, timed_out = await self._attempt(lease)
        return await self._durably(partial(self._record, lease, attempt, retry_after, timed_out))

    async def _attempt(self, lease: Lease) -> tuple[Attempt, str | None, bool]:
        """Send once; what happened (the attempt, a Retry-After, whether it timed out)."""
        url = lease.subscription.url.rstrip("/") + lease.event.path
        now = self.clock()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        body = b""
        retry_after: str | None = None
        timed_out = False
        try:
            self.guard.validate_url(url)
            with anyio.fail_after(self.total_timeout):
                reply = await self._sender.post(
                    lease.subscription.id, url, lease.event.body, self._headers(lease, int(now))
                )
            status, retry_after, body = reply.status, reply.retry_after, reply.body
        except TimeoutError:
            timed_out, error = True, f"timed out after {self.total_timeout:g} s"
        except SendTimeout as exc:
            timed_out, error = True, str(exc)
        except UnsafeDestinationError as exc:
            error = f"refused by the guard: {exc}"
        except SendFailed as exc:
            error = str(exc)
        attempt = Attempt(
            attempted_at=now,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=error,
            response=body[:RESPONSE_LIMIT],
        )
        return attempt, retry_after, timed_out

    async def _durably(self, call: Callable[[], T]) -> T:
        """``call()`` (a store operation) in a worker thread, so the event loop never waits on
        the database (a stalled write delays no other delivery). While running for ever, a
        transient store failure (disk full, busy, connection lost) is logged with its real
        cause and retried with backoff, keeping the work in hand, until the store works
        again or the deliverer stops."""
        delay = 0.1
        while True:
            try:
                result = await anyio.to_thread.run_sync(call)
            except StoreError as exc:
                if not exc.transient or self._stop is None or self._stop.is_set():
                    raise
                if not self._store_trouble:
                    log.error(
                        "the state store failed: %s; retrying (at most every %g s)",
                        exc,
                        STORE_BACKOFF_MAX,
                    )
                self._store_trouble = True
                await anyio.sleep(delay)
                delay = min(delay * 2, STORE_BACKOFF_MAX)
                continue
            if self._store_trouble:
                self._store_trouble = False
                log.warning("the state store works again; carrying on")
            return result

    async def _settle(
        self, lease: Lease, attempt: Attempt, retry_after: str | None, timed_out: bool
    ) -> Outcome:
        """Record the attempt durably: a success through the group commit, anything else
        (retries, dead letters, signals) in a transaction of its own."""
        outcome = delivered(lease, attempt)
        if outcome is not None:
            await self.completions.complete(lease, attempt)
            return outcome
        return await self._durably(partial(self._record, lease, attempt, retry_after, timed_out))

    def _record(
        self, lease: Lease, attempt: Attempt, retry_after: str | None, timed_out: bool
    ) -> Outcome:
        return record_attempt(
            self.store, self.schedule, self._rng, lease, attempt, retry_after, timed_out
        )

    # loops -------------------------------------------------------------------------------

    async def _lease(self, now: float, capacity: int) -> list[Lease]:
        if capacity <= 0:
            return []
        full = [s for s, n in self._inflight.items() if n >= self.per_endpoint]
        leases = await self._durably(
            partial(
                self.store.lease_due,
                now,
                capacity,
                self.worker,
                self.lease_seconds,
                exclude_subscriptions=full + self.breaker.blocked(now),
                per_subscription=self.per_endpoint,
            )
        )
        probing = set(self.breaker.half_open(now))
        kept: list[Lease] = []
        for lease in leases:
            sub = lease.subscription.id
            if sub in probing:
                # Half-open: one delivery goes as the probe, the rest wait for its outcome.
                if self.breaker.state(sub, now) != "half-open":
                    await self._durably(partial(self.store.release, lease))
                    continue
                self.breaker.start_probe(sub)
            self._inflight[sub] += 1
            kept.append(lease)
        return kept

    def _slot(self, subscription_id: str) -> anyio.Semaphore:
        slot = self._slots.get(subscription_id)
        if slot is None:
            slot = self._slots[subscription_id] = anyio.Semaphore(self.per_endpoint)
        return slot

    async def _run(self, lease: Lease, outcomes: list[Outcome] | None) -> None:
        try:
            # The slot bounds requests in flight to the endpoint; recording happens after it
            # is free, so a slow store write never holds the next request back.
            async with self._slot(lease.subscription.id):
                attempt, retry_after, timed_out = await self._attempt(lease)
            try:
                outcome = await self._settle(lease, attempt, retry_after, timed_out)
            except StoreError as exc:
                if self._stop is None:
                    raise
                # Sent but not recorded: the lease runs out and the same bytes go again.
                self._give_up(exc)
                return
            sub_id = lease.subscription.id
            if self.breaker.record(sub_id, self.clock(), outcome.result == "delivered"):
                log.warning(
                    "circuit open for subscription %s: most recent attempts failed; "
                    "holding its deliveries for %g s without spending their attempts",
                    sub_id,
                    self.breaker.cool_down,
                )
            if self.metrics is not None:
                self.metrics.attempted(outcome.result, attempt.latency_ms)
            if outcomes is not None:
                outcomes.append(outcome)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                self.breaker.cancel_probe(lease.subscription.id)
                try:
                    await anyio.to_thread.run_sync(self.store.release, lease)
                except StoreError as exc:  # the lease runs out instead
                    log.warning("cannot hand back a lease: %s", exc)
            raise
        finally:
            sub = lease.subscription.id
            self._inflight[sub] -= 1
            if self._inflight[sub] <= 0:
                del self._inflight[sub]
                self._slots.pop(sub, None)
            if sum(self._inflight.values()) <= self.concurrency // 2:
                self._wake.set()

    async def run_once(self, now: float | None = None) -> list[Outcome]:
        """Lease what is due (at ``now`` or the clock) up to the caps, send it all, return outcomes."""
        when = self.clock() if now is None else now
        outcomes: list[Outcome] = []
        leases = await self._lease(when, self.concurrency - sum(self._inflight.values()))
        async with anyio.create_task_group() as group:
            for lease in leases:
                group.start_soon(self._run, lease, outcomes)
        return outcomes

    async def drain(self, max_rounds: int = 10_000) -> list[Outcome]:
        """Call :meth:`run_once` until nothing is due at the clock's time; return all outcomes."""
        outcomes: list[Outcome] = []
        for _ in range(max_rounds):
            batch = await self.run_once()
            if not batch:
                break
            outcomes += batch
        return outcomes

    async def run_forever(
        self, stop: anyio.Event, *, idle: float = 0.25, grace: float | None = None
    ) -> None:
        """Deliver continuously until ``stop`` is set.

        On stop, no new work is leased; in-flight attempts finish (at most ``total_timeout``)
        unless ``grace`` seconds pass first, in which case they are cancelled and their
        leases released for the next run.
        """

        async def watch_stop() -> None:
            await stop.wait()
            self._wake.set()

        token = anyio.lowlevel.current_token()

        def work_queued() -> None:  # from the store's listening thread
            try:
                anyio.from_thread.run_sync(lambda: self._wake.set(), token=token)
            except RuntimeError:  # the loop has ended
                pass

        listen = getattr(self.store, "listen", None)
        stop_listening = listen(work_queued) if listen is not None else None
        if stop_listening is not None:
            # Woken when work is committed anywhere: the table is only looked at for retries
            # falling due.
            idle = max(idle, LISTENING_IDLE)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch_stop)
                await self._feed(group, stop, idle)
                with anyio.move_on_after(self.total_timeout if grace is None else grace):
                    while self._inflight:
                        self._wake = anyio.Event()
                        with anyio.move_on_after(0.05):
                            await self._wake.wait()
                group.cancel_scope.cancel()
        finally:
            if stop_listening is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(stop_listening)

    def _give_up(self, exc: StoreError) -> None:
        """The store failed for good: stop leasing, say why once."""
        if self.failure is None:
            self.failure = str(exc)
            log.error("the state store failed for good: %s; stopping", exc)
        if self._stop is not None:
            self._stop.set()

    async def _feed(self, group: TaskGroup, stop: anyio.Event, idle: float) -> None:
        self._stop = stop
        leased_at = -LEASE_PATIENCE
        while not stop.is_set():
            capacity = self.concurrency - sum(self._inflight.values())
            if (
                not self._wake.is_set()
                and capacity < self.concurrency // 4
                and anyio.current_time() - leased_at < LEASE_PATIENCE
            ):
                # Busy: a lease costs about as much for 5 deliveries as for 50, so wait
                # for the in-flight work to drain to half (which wakes us) unless it stalls.
                with anyio.move_on_after(idle):
                    await self._wake.wait()
                continue
            self._wake = anyio.Event()
            leased_at = anyio.current_time()
            try:
                leases = await self._lease(self.clock(), capacity)
            except StoreError as exc:
                if not stop.is_set():
                    self._give_up(exc)
                return
            for lease in leases:
                group.start_soon(self._run, lease, None)
            if leases and sum(self._inflight.values()) < self.concurrency // 2:
                await anyio.sleep(0)
                continue
            with anyio.move_on_after(idle):
                await self._wake.wait()
