"""The emitter: poll every watched resource, then deliver what is due; once, or on a loop.

:class:`Emitter` owns one :class:`~connector.emitter.poller.Poller` per resource that has
webhooks and a ``list`` operation, and a :class:`~connector.emitter.delivery.Deliverer`.

* :meth:`Emitter.run_once` polls every resource once, then delivers until nothing is due
  (``connector emit --once``);
* :meth:`Emitter.run` polls every ``interval`` seconds while the deliverer runs alongside, so
  a retry that falls due between polls goes out on time (``connector emit --interval S``).
  Several emitters may share one store: each resource is polled by the one holding its poll
  lease (taken over within two intervals when that one dies), and all of them deliver.
  When ``stop`` is set, a poll in progress is abandoned (its commit is atomic, so it either
  happened or not), no new delivery is leased, and attempts in flight finish, or are
  cancelled after ``grace`` seconds with their leases handed back.

Example::

    async with Emitter(api, store, guard=Guard(allow_private=True)) as emitter:
        report = await emitter.run_once()
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from connector.client import AsyncConnector
from connector.emitter.delivery import Deliverer, Outcome
from connector.emitter.guard import Guard
from connector.emitter.poller import DEFAULT_PAGE_SIZE, Poller, PollResult
from connector.emitter.store import Store
from connector.emitter.triggers import is_pollable
from connector.errors import ConnectorError, StoreError

if TYPE_CHECKING:
    from connector.emitter.metrics import Metrics

__all__ = ["CycleReport", "Emitter", "stop_on_signals"]

log = logging.getLogger("connector.emitter")

DEFAULT_INTERVAL = 30.0
# How often the deliverer looks for due work when idle: the hand-over delay after a poll.
DELIVERY_IDLE = 0.05


@dataclass
class CycleReport:
    """One poll of every resource and the delivery attempts that followed it."""

    polls: list[PollResult] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def events(self) -> list[str]:
        """Ids of the events this cycle detected."""
        return [e for p in self.polls for e in p.events]

    @property
    def ok(self) -> bool:
        """No listing failed, no record was quarantined and every attempt was delivered."""
        return all(p.ok and not p.quarantined for p in self.polls) and all(
            o.result == "delivered" for o in self.outcomes
        )

    def to_json(self) -> dict[str, object]:
        """A summary for ``connector emit`` to print."""
        delivered = sum(o.result == "delivered" for o in self.outcomes)
        return {
            "events": len(self.events),
            "delivered": delivered,
            "retrying": sum(o.result == "retry" for o in self.outcomes),
            "failed": sum(o.result == "failed" for o in self.outcomes),
            "resources": {
                p.resource: {
                    "requests": p.requests,
                    "listed": p.listed,
                    "complete": p.complete,
                    "baseline": p.baseline,
                    "events": len(p.events),
                    **({"held": len(p.held)} if p.held else {}),
                    **({"quarantined": len(p.quarantined)} if p.quarantined else {}),
                    **({"error": p.error} if p.error else {}),
                }
                for p in self.polls
            },
        }


class Emitter:
    """Polls a connector's resources into ``store`` and delivers the events.

    ``resources`` limits polling to some handles (default: every pollable one). ``deliverer``
    replaces the default :class:`Deliverer` built from ``guard`` and ``clock``; one built here
    is closed with the emitter. ``backfill``, ``page_size`` and ``sweep_every`` go to each
    :class:`Poller`.
    """

    def __init__(
        self,
        connector: AsyncConnector,
        store: Store,
        *,
        deliverer: Deliverer | None = None,
        guard: Guard | None = None,
        clock: Callable[[], float] = time.time,
        resources: Iterable[str] | None = None,
        backfill: bool = False,
        page_size: int | None = DEFAULT_PAGE_SIZE,
        sweep_every: int | None = None,
        release_held: bool = False,
    ) -> None:
        self.connector = connector
        self.store = store
        self.clock = clock
        wanted = set(resources) if resources is not None else None
        self.pollers = [
            Poller(
                connector,
                store,
                resource,
                clock=clock,
                backfill=backfill,
                page_size=page_size,
                sweep_every=sweep_every,
                release_held=release_held,
            )
            for resource in connector.definition.resources
            if is_pollable(resource) and (wanted is None or resource.handle in wanted)
        ]
        self._owns_deliverer = deliverer is None
        self.deliverer = deliverer or Deliverer(store, guard=guard, clock=clock)
        self.cycles = 0
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """This emitter's name in the poll leases (host:pid:random; one emitter polls a
        resource at a time)."""
        self.leading: set[str] = set()
        self._followed: set[str] = set()
        self.metrics: Metrics | None = None
        self._stop: anyio.Event | None = None
        self._failure: str | None = None

    @property
    def failure(self) -> str | None:
        """Why the emitter stopped by itself: the store failed for good (None otherwise)."""
        return self._failure or self.deliverer.failure

    def _give_up(self, exc: StoreError) -> None:
        if self._failure is None:
            self._failure = str(exc)
            log.error("the state store failed for good: %s; stopping", exc)
        if self._stop is not None:
            self._stop.set()

    def __repr__(self) -> str:
        return f"<Emitter {[p.handle for p in self.pollers]}>"

    def measure(self, metrics: Metrics) -> None:
        """Count polls and attempts in ``metrics``, and expose the queue, the breakers and
        the leadership at each scrape."""
        self.metrics = self.deliverer.metrics = metrics
        deliverer = self.deliverer
        metrics.watch(
            self.store,
            lambda: len(deliverer.breaker.blocked(deliverer.clock())),
            lambda: {p.handle: p.handle in self.leading for p in self.pollers},
        )

    async def __aenter__(self) -> Emitter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the deliverer if this emitter built it (the connector and store are the
        caller's)."""
        if self._owns_deliverer:
            await self.deliverer.aclose()

    async def poll(self, pollers: Sequence[Poller] | None = None) -> list[PollResult]:
        """Poll every resource (or ``pollers``) once, concurrently; results in order."""
        pollers = self.pollers if pollers is None else pollers
        results: list[PollResult | None] = [None] * len(pollers)

        async def one(index: int, poller: Poller) -> None:
            try:
                started = time.perf_counter()
                results[index] = await poller.poll()
                if self.metrics is not None:
                    self.metrics.polled(poller.handle, started)
            except StoreError as exc:
                if not exc.transient:
                    self._give_up(exc)
                log.error("polling %s failed: %s", poller.handle, exc)
                results[index] = PollResult(poller.handle, error=str(exc))
            except ConnectorError as exc:
                log.error("polling %s failed: %s", poller.handle, exc)
                results[index] = PollResult(poller.handle, error=str(exc))
            except Exception as exc:
                # Whatever one resource does, the others and the deliveries go on.
                log.error("ALERT polling %s failed unexpectedly: %r", poller.handle, exc)
                results[index] = PollResult(poller.handle, error=f"unexpected: {exc!r}")

        async with anyio.create_task_group() as group:
            for index, poller in enumerate(pollers):
                group.start_soon(one, index, poller)
        self.cycles += 1
        return [r for r in results if r is not None]

    async def _lead(self, pollers: Sequence[Poller], interval: float) -> list[Poller]:
        """The pollers this emitter may run now: it holds (or just took) their poll lease.

        A lease lasts 1.5 intervals and is renewed every poll; an emitter that does not lead
        a resource asks again every half interval, so when the leader dies another one
        polls within two intervals. Regaining a resource drops its cached snapshot, since
        another emitter may have moved it on meanwhile."""
        led: list[Poller] = []
        for poller in pollers:
            try:
                leading = await anyio.to_thread.run_sync(
                    self.store.lead_poll, poller.handle, self.owner, self.clock(), 1.5 * interval
                )
            except StoreError as exc:
                # Nobody can poll through a failing store: sit this cycle out, and take the
                # resource up again (reloading its snapshot) once the store answers.
                log.error("cannot take the poll lease of %s: %s", poller.handle, exc)
                self.leading.discard(poller.handle)
                continue
            if leading and poller.handle not in self.leading:
                poller.forget()
                if poller.handle in self._followed:
                    log.info("taking over polling %s from another emitter", poller.handle)
            if not leading and poller.handle not in self._followed:
                log.info("another emitter polls %s; this one stands by", poller.handle)
            (self.leading.add if leading else self.leading.discard)(poller.handle)
            (self._followed.discard if leading else self._followed.add)(poller.handle)
            if leading:
                led.append(poller)
        return led

    async def _release_leads(self) -> None:
        for handle in sorted(self.leading):
            try:
                await anyio.to_thread.run_sync(self.store.release_poll, handle, self.owner)
            except StoreError as exc:
                log.warning("cannot release the poll lease of %s: %s", handle, exc)
        self.leading.clear()

    async def run_once(self, *, stop: anyio.Event | None = None) -> CycleReport:
        """One poll of every resource, then deliveries until nothing is due.

        Setting ``stop`` abandons the pass: leased deliveries are handed back, and the
        report holds what finished before.
        """
        report = CycleReport()
        if stop is not None and stop.is_set():
            return report
        async with anyio.create_task_group() as group:
            if stop is not None:
                group.start_soon(_cancel_on, stop, group.cancel_scope)
            report.polls = await self.poll()
            try:
                report.outcomes = await self.deliverer.drain()
            except StoreError as exc:
                self._failure = self._failure or str(exc)
                log.error("delivering failed: %s", exc)
            group.cancel_scope.cancel()
        return report

    async def run(
        self,
        stop: anyio.Event,
        *,
        interval: float = DEFAULT_INTERVAL,
        grace: float | None = None,
        on_cycle: Callable[[CycleReport], None] | None = None,
    ) -> None:
        """Poll every ``interval`` seconds and deliver continuously until ``stop`` is set.

        ``on_cycle`` is called with each poll's report (its ``outcomes`` stay empty: the
        deliverer runs on its own schedule).
        """
        self._stop = stop
        async with anyio.create_task_group() as group:
            group.start_soon(
                partial(self.deliverer.run_forever, stop, idle=DELIVERY_IDLE, grace=grace)
            )
            polling = anyio.CancelScope()

            async def abandon_poll_on_stop() -> None:
                await stop.wait()
                polling.cancel()

            group.start_soon(abandon_poll_on_stop)
            due_at = {poller.handle: 0.0 for poller in self.pollers}
            with polling:
                while not stop.is_set():
                    started = anyio.current_time()
                    due = [p for p in self.pollers if due_at[p.handle] <= started]
                    led = await self._lead(due, interval)
                    report = CycleReport(await self.poll(led))
                    for poller in due:
                        later = interval if poller in led else interval / 2
                        due_at[poller.handle] = started + later
                    if on_cycle is not None and led:
                        on_cycle(report)
                    wait = min(due_at.values(), default=started + interval)
                    with anyio.move_on_after(max(wait - anyio.current_time(), 0.0)):
                        await stop.wait()
            with anyio.CancelScope(shield=True):
                await self._release_leads()


async def _cancel_on(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


async def stop_on_signals(stop: anyio.Event, announce: Callable[[str], None] | None = None) -> None:
    """Set ``stop`` on the first SIGTERM or SIGINT (Ctrl-C), calling ``announce`` with the
    signal's name; run it in the emitter's task group."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for received in signals:
            if announce is not None:
                announce(signal.Signals(received).name)
            stop.set()
            return
