"""Group commit: successful delivery attempts recorded several per transaction.

A delivery counts as done only once its attempt is committed: :meth:`GroupCommit.complete`
returns after the transaction that holds it has committed. While one transaction is being
committed, the attempts finishing meanwhile wait in a queue and go together in the next one,
so an idle deliverer commits each attempt at once (no timer, no added latency) and a busy one
commits as often as the store can, with many attempts each time.

A crash after a send and before its commit leaves the lease to run out, so the same bytes are
sent again: allowed (receivers deduplicate on ``webhook-id``) and the same as with one
transaction per attempt. If a transaction fails, every attempt in it gets the error; if the
task committing is cancelled before its transaction started, the queued attempts stay queued
and another waiting task commits them.

Example::

    group = GroupCommit(store, run=anyio.to_thread.run_sync)
    recorded = await group.complete(lease, attempt)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import anyio
import anyio.lowlevel

from connector.emitter.store import Attempt, Lease, Store
from connector.errors import StoreError

__all__ = ["BATCH_MAX", "GroupCommit"]

# At most this many attempts per transaction, so one commit stays short.
BATCH_MAX = 200


@dataclass(slots=True)
class _Waiting:
    lease: Lease
    attempt: Attempt
    done: bool = False
    recorded: bool = False
    error: StoreError | None = None


class GroupCommit:
    """Commits successful attempts in batches through ``run`` (how a store call is made:
    a worker thread, with the deliverer's retry of transient failures)."""

    def __init__(
        self,
        store: Store,
        *,
        run: Callable[[Callable[[], list[bool]]], Awaitable[list[bool]]],
        limit: int = BATCH_MAX,
    ) -> None:
        self.store = store
        self._run = run
        self._limit = limit
        self._queue: list[_Waiting] = []
        self._committing = False
        self._committed = anyio.Event()
        self.transactions = 0
        """How many transactions were committed (for tests and benchmarks)."""

    async def complete(self, lease: Lease, attempt: Attempt) -> bool:
        """Record ``attempt`` as the delivery's success; returns once it is durable (False if
        the lease had been lost, as :meth:`Store.complete`). Raises the store's error."""
        mine = _Waiting(lease, attempt)
        self._queue.append(mine)
        # Every waiter of a batch wakes on the batch's one event (no event per attempt); one
        # left for the next batch (past the limit) waits again.
        while not mine.done:
            if self._committing:
                await self._committed.wait()
            else:
                await self._commit()
        if mine.error is not None:
            raise mine.error
        return mine.recorded

    async def _commit(self) -> None:
        self._committing = True
        finished = self._committed = anyio.Event()
        batch: list[_Waiting] = []
        settled = False
        try:
            # One turn of the event loop first (no timer): the attempts whose answers came in
            # the same turn join this batch instead of waiting for the next transaction.
            await anyio.lowlevel.checkpoint()
            batch = self._queue[: self._limit]
            del self._queue[: self._limit]
            pairs = [(w.lease, w.attempt) for w in batch]
            results = await self._run(partial(self.store.complete_many, pairs))
            self.transactions += 1
            for waiting, recorded in zip(batch, results, strict=True):
                waiting.recorded = recorded
            settled = True
        except StoreError as exc:
            for waiting in batch:
                waiting.error = exc
            settled = True
        finally:
            if settled:
                for waiting in batch:
                    waiting.done = True
            else:  # cancelled before committing: the next waiting task takes them
                self._queue[:0] = batch
            self._committing = False
            finished.set()
