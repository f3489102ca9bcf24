"""Recording attempts durably: store calls in worker threads, transient failures waited out.

Every store call the deliverer makes goes through :meth:`Recorder.run`: in a worker thread,
so the event loop never waits on the database (a stalled write delays no other delivery).
While the deliverer runs for ever (``patient``), a transient store failure (disk full, busy,
connection lost) is logged once with its real cause and retried with backoff, keeping the
work in hand, until the store works again or the deliverer stops.

:meth:`Recorder.settle` records one attempt: a success through the group commit
(:mod:`~connector.emitter.completions`, several per transaction), anything else (retries,
dead letters, disabling, operator signals) in a transaction of its own by the rules of
:mod:`~connector.emitter.outcomes`.

Example::

    recorder = Recorder(store, RetrySchedule(), random.Random())
    outcome = await recorder.settle(lease, sent)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

from connector.emitter.completions import GroupCommit
from connector.emitter.courier import Sent
from connector.emitter.outcomes import Outcome, delivered, record_attempt
from connector.emitter.schedule import RetrySchedule
from connector.emitter.store import Lease, Store
from connector.errors import StoreError

__all__ = ["STORE_BACKOFF_MAX", "Recorder"]

log = logging.getLogger("connector.emitter")
T = TypeVar("T")
# While the store fails with a transient error (disk full, busy), wait this long at most
# between tries; the work in hand is kept meanwhile.
STORE_BACKOFF_MAX = 30.0


class Recorder:
    """Runs ``store`` calls for a deliverer and records its attempts."""

    def __init__(self, store: Store, schedule: RetrySchedule, rng: random.Random) -> None:
        self.store = store
        self.schedule = schedule
        self._rng = rng
        self.patient: anyio.Event | None = None
        """While set to an unset event, transient failures are retried (run_forever)."""
        self._trouble = False
        self.completions = GroupCommit(store, run=self.run)

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` in a worker thread; see the module docstring for failures."""
        delay = 0.1
        while True:
            try:
                result = await anyio.to_thread.run_sync(call)
            except StoreError as exc:
                if not exc.transient or self.patient is None or self.patient.is_set():
                    raise
                if not self._trouble:
                    log.error(
                        "the state store failed: %s; retrying (at most every %g s)",
                        exc,
                        STORE_BACKOFF_MAX,
                    )
                self._trouble = True
                await anyio.sleep(delay)
                delay = min(delay * 2, STORE_BACKOFF_MAX)
                continue
            if self._trouble:
                self._trouble = False
                log.warning("the state store works again; carrying on")
            return result

    async def settle(self, lease: Lease, sent: Sent) -> Outcome:
        """Record the attempt durably; returns once it is committed."""
        outcome = delivered(lease, sent.attempt)
        if outcome is not None:
            await self.completions.complete(lease, sent.attempt)
            return outcome
        return await self.run(partial(self.record, lease, sent))

    def record(self, lease: Lease, sent: Sent) -> Outcome:
        """Record one attempt in a transaction of its own (called in a worker thread)."""
        return record_attempt(
            self.store,
            self.schedule,
            self._rng,
            lease,
            sent.attempt,
            sent.retry_after,
            sent.timed_out,
        )
