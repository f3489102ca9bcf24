"""Recording attempts durably: store calls in worker threads, transient failures waited out.

Every store call the deliverer makes goes through :meth:`Recorder.run`: in a worker thread,
so the event loop never waits on the database (a stalled write delays no other delivery).
The two calls made for every delivery, the lease and the group commit, go through
:meth:`Recorder.run_soon`: on a SQLite store the event loop makes them itself on a
connection that never waits for a lock (a thread hop costs more than the sub-millisecond
transaction), and hands them to a worker thread when the write lock is taken elsewhere;
the WAL is checkpointed in a worker thread every :data:`CHECKPOINT_EVERY` of them.
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
import anyio.lowlevel
import anyio.to_thread

from connector.emitter.completions import GroupCommit
from connector.emitter.courier import Sent
from connector.emitter.database import Immediate, WouldWait
from connector.emitter.outcomes import Outcome, delivered, record_attempt
from connector.emitter.schedule import RetrySchedule
from connector.emitter.store import Lease, Store
from connector.errors import StoreError

__all__ = ["CHECKPOINT_EVERY", "STORE_BACKOFF_MAX", "Recorder"]

log = logging.getLogger("connector.emitter")
T = TypeVar("T")
# Transactions made on the event loop (:meth:`Recorder.run_soon`) between two upkeeps of
# the database in a worker thread (SQLite: a WAL checkpoint, which that path leaves out so
# that no commit on the loop syncs the file). A lease or a group commit writes about 16
# pages, so this keeps SQLite's own rhythm (a checkpoint past 1,000 pages of WAL): at 200
# the WAL of the 20,000 backlog grew to 13 MiB more.
CHECKPOINT_EVERY = 50
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
        db = getattr(store, "db", None)
        self._now = db if isinstance(db, Immediate) else None
        self.completions = GroupCommit(store, run=self.run_soon)

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` in a worker thread; see the module docstring for failures."""
        return await self._run(call, soon=False)

    async def run_soon(self, call: Callable[[], T]) -> T:
        """``call()`` on the event loop if the store can make it without waiting, else as
        :meth:`run`. Only for calls whose first statement begins their first transaction."""
        result = await self._run(call, soon=True)
        if self._now is not None and self._now.unchecked >= CHECKPOINT_EVERY:
            await self.run(self._now.checkpoint)
        return result

    async def _run(self, call: Callable[[], T], *, soon: bool) -> T:
        delay = 0.1
        while True:
            try:
                result = await self._call(call, soon)
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

    async def _call(self, call: Callable[[], T], soon: bool) -> T:
        if soon and self._now is not None:
            try:
                result = self._now.run_now(call)
            except WouldWait:
                pass
            else:
                # Let others run, as a thread hop would; a cancellation now would lose the
                # result of a committed transaction, so it waits for the next checkpoint.
                await anyio.lowlevel.cancel_shielded_checkpoint()
                return result
        return await anyio.to_thread.run_sync(call)

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
