"""Lanes: each subscription's leased deliveries waiting for a worker, and its workers.

A lane is an in-memory queue worked by at most ``per_endpoint`` long-lived worker tasks, so
at most that many requests are in flight to one endpoint and a busy deliverer starts no task
per attempt: a worker takes the next lease of its lane as soon as its attempt is recorded.
Without ``linger`` (one round, :meth:`Deliverer.run_once`) a worker ends when its lane is
empty; with it (:meth:`Deliverer.run_forever`) it waits for more, and a lane whose every
worker has waited :data:`LANE_LINGER` seconds is retired with its workers.

Pushing a lease wakes one waiting worker of its lane, or starts one while the lane has fewer
than ``per_endpoint``. Leases still queued when a run is cancelled are taken back with
:meth:`Lanes.take_queued` (the deliverer hands them back to the store).

Example::

    lanes = Lanes(10)
    lanes.push(group, leases, attempt, linger=True)   # attempt(lease) sends and records
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskGroup

from connector.emitter.store import Lease

__all__ = ["LANE_LINGER", "Lanes"]

# A lane whose workers all waited this long (seconds) for work is retired with its workers.
LANE_LINGER = 5.0

Attempt = Callable[[Lease], Awaitable[None]]


@dataclass(eq=False)
class _Lane:
    queue: deque[Lease] = field(default_factory=deque)
    workers: int = 0
    sleepers: deque[anyio.Event] = field(default_factory=deque)
    used: float = 0.0
    retired: bool = False


class Lanes:
    """One lane per subscription id, each worked by at most ``per_endpoint`` workers."""

    def __init__(self, per_endpoint: int) -> None:
        self.per_endpoint = per_endpoint
        self._lanes: dict[str, _Lane] = {}

    def __len__(self) -> int:
        return len(self._lanes)

    def push(
        self, group: TaskGroup, leases: list[Lease], attempt: Attempt, *, linger: bool
    ) -> None:
        """Queue ``leases`` in their lanes; workers started here call ``attempt`` in ``group``."""
        now = anyio.current_time()
        for lease in leases:
            sub = lease.subscription.id
            lane = self._lanes.get(sub)
            if lane is None:
                lane = self._lanes[sub] = _Lane()
            lane.queue.append(lease)
            lane.used = now
            if lane.sleepers:
                lane.sleepers.popleft().set()
            elif lane.workers < self.per_endpoint:
                lane.workers += 1
                group.start_soon(self._work, lane, attempt, linger)

    async def _work(self, lane: _Lane, attempt: Attempt, linger: bool) -> None:
        try:
            while True:
                while lane.queue:
                    await attempt(lane.queue.popleft())
                if not linger or lane.retired:
                    return
                wake = anyio.Event()
                lane.sleepers.append(wake)
                await wake.wait()
        finally:
            lane.workers -= 1

    def retire_idle(self) -> None:
        """Retire the lanes whose every worker has waited :data:`LANE_LINGER` s for work."""
        now = anyio.current_time()
        for sub, lane in list(self._lanes.items()):
            idle = not lane.queue and len(lane.sleepers) == lane.workers
            if idle and now - lane.used > LANE_LINGER:
                self._retire(sub, lane)

    def take_queued(self) -> list[Lease]:
        """Every lease still waiting for a worker, taken out; every lane retired."""
        waiting = [lease for lane in self._lanes.values() for lease in lane.queue]
        for sub, lane in list(self._lanes.items()):
            lane.queue.clear()
            self._retire(sub, lane)
        return waiting

    def _retire(self, sub: str, lane: _Lane) -> None:
        lane.retired = True
        while lane.sleepers:
            lane.sleepers.popleft().set()
        if self._lanes.get(sub) is lane:
            del self._lanes[sub]
