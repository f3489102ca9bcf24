"""Delivery: lease due deliveries and work them off, one lane of workers per endpoint.

Each attempt (:class:`~connector.emitter.courier.Courier`) sends the event's body
byte-identical to ``subscription.url + event.path`` with fresh Standard Webhooks headers,
reads at most 20 KB of the answer without decompressing it, never follows a redirect (a 3xx
is a failure), and is recorded (:class:`~connector.emitter.recorder.Recorder`) by the rules
of :mod:`~connector.emitter.outcomes` (delivered, retried per the :class:`RetrySchedule`,
dead letter, endpoint disabled). Store calls run in worker threads, so the event loop never
waits on the database.

Leased deliveries go into their subscription's **lane** (:mod:`~connector.emitter.lanes`), an
in-memory queue worked by at most ``per_endpoint`` long-lived worker tasks; at most
``concurrency`` deliveries are leased and unfinished overall. A busy deliverer starts no task
and opens no slot or timeout scope per attempt.
Tests drive :meth:`Deliverer.run_once` / :meth:`Deliverer.drain` with an injected clock and
transport (workers then end when their lane is empty); the emitter runs
:meth:`Deliverer.run_forever`.

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
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import httpx
from anyio.abc import TaskGroup

from connector.emitter.breaker import CircuitBreaker
from connector.emitter.courier import RESPONSE_LIMIT, Courier
from connector.emitter.guard import Guard
from connector.emitter.lanes import Lanes
from connector.emitter.outcomes import Outcome
from connector.emitter.recorder import Recorder
from connector.emitter.schedule import RetrySchedule
from connector.emitter.sender import GuardedSender, Sender, TransportSender
from connector.emitter.store import Lease, Store
from connector.errors import StoreError

if TYPE_CHECKING:
    from connector.emitter.metrics import Metrics

__all__ = ["RESPONSE_LIMIT", "Deliverer", "Outcome", "user_agent"]

log = logging.getLogger("connector.emitter")
# docs/architecture.md, "Delivery": a lease outlives the request by 15 s, so only a dead worker's delivery
# is ever taken over. A leased delivery may first wait in its lane (at most one request
# time, since no more than ``per_endpoint`` are leased ahead), hence two timeouts.
LEASE_MARGIN = 15.0
# With a store that tells when work is queued (PostgreSQL's NOTIFY), the table is still read
# this often, for retries falling due.
LISTENING_IDLE = 0.5
# A busy deliverer leases again when a quarter of its capacity is free; with less free, it
# still leases at least this often (seconds), so slow endpoints cannot hold new work back long.
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
        # Leased and not finished, per subscription (being sent or waiting in its lane).
        self._inflight: Counter[str] = Counter()
        self._busy = 0
        self._lanes = Lanes(per_endpoint)
        self._wake = anyio.Event()
        self._stop: anyio.Event | None = None
        self.recorder = Recorder(store, schedule, rng or random.Random())
        # Successful attempts are committed several per transaction (group commit).
        self.completions = self.recorder.completions
        self.metrics: Metrics | None = None
        """Where attempts are counted (``connector emit --metrics-port``), if anywhere."""
        self.failure: str | None = None
        """Why :meth:`run_forever` stopped early: the store failed for good."""
        # One small pool per endpoint, so a slow endpoint never holds connections another
        # endpoint needs.
        sender: Sender = (
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
        self.courier = Courier(sender, self.guard, clock=clock, user_agent=user_agent())

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (the store is the caller's)."""
        await self.courier.sender.aclose()

    async def deliver(self, lease: Lease) -> Outcome:
        """Make one attempt for a leased delivery and record it in the store."""
        sent = await self.courier.attempt(lease)
        return await self.recorder.run(partial(self.recorder.record, lease, sent))

    # leasing -----------------------------------------------------------------------------

    async def _lease(self, now: float, capacity: int) -> list[Lease]:
        if capacity <= 0:
            return []
        full = [s for s, n in self._inflight.items() if n >= self.per_endpoint]
        leases = await self.recorder.run(
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
                    await self.recorder.run(partial(self.store.release, lease))
                    continue
                self.breaker.start_probe(sub)
            self._inflight[sub] += 1
            self._busy += 1
            kept.append(lease)
        return kept

    # lanes -------------------------------------------------------------------------------

    async def _release_queued(self) -> None:
        """Hand back the leases still waiting in lanes (a cancelled run), so they go again
        at once rather than when their lease runs out."""
        waiting = self._lanes.take_queued()
        for lease in waiting:
            self._finished(lease)
        if waiting:
            with anyio.CancelScope(shield=True):
                try:
                    await anyio.to_thread.run_sync(self._release_all, waiting)
                except StoreError as exc:  # the leases run out instead
                    log.warning("cannot hand back leases: %s", exc)

    def _release_all(self, leases: list[Lease]) -> None:
        for lease in leases:
            self.store.release(lease)

    def _finished(self, lease: Lease) -> None:
        sub = lease.subscription.id
        self._inflight[sub] -= 1
        self._busy -= 1
        if self._inflight[sub] <= 0:
            del self._inflight[sub]
        if self._busy <= self.concurrency // 2:
            self._wake.set()

    async def _run(self, lease: Lease, outcomes: list[Outcome] | None = None) -> None:
        try:
            sent = await self.courier.attempt(lease)
            try:
                outcome = await self.recorder.settle(lease, sent)
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
                self.metrics.attempted(outcome.result, sent.attempt.latency_ms)
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
            self._finished(lease)

    # loops -------------------------------------------------------------------------------

    async def run_once(self, now: float | None = None) -> list[Outcome]:
        """Lease what is due (at ``now`` or the clock) up to the caps, send it all, return outcomes."""
        when = self.clock() if now is None else now
        outcomes: list[Outcome] = []
        leases = await self._lease(when, self.concurrency - self._busy)
        try:
            async with anyio.create_task_group() as group:
                self._lanes.push(group, leases, partial(self._run, outcomes=outcomes), linger=False)
        finally:
            await self._release_queued()
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
                    while self._busy:
                        self._wake = anyio.Event()
                        with anyio.move_on_after(0.05):
                            await self._wake.wait()
                group.cancel_scope.cancel()
        finally:
            await self._release_queued()
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
        self._stop = self.recorder.patient = stop
        leased_at = -LEASE_PATIENCE
        while not stop.is_set():
            capacity = self.concurrency - self._busy
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
            self._lanes.push(group, leases, self._run, linger=True)
            self._lanes.retire_idle()
            if leases and self._busy < self.concurrency // 2:
                await anyio.sleep(0)
                continue
            with anyio.move_on_after(idle):
                await self._wake.wait()
