"""Deliveries in the SQL store: leasing them and recording their attempts.

See :mod:`connector.emitter.store` for the contract and :mod:`connector.emitter.database` for
what a backend gives. Leasing is one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING``
over the due index in its own order (the backend's ``due_index`` names it where the planner
would otherwise sort every queued row), so a lease costs the same over a backlog of 100,000 as
over one of 100; the backend's ``lease_lock`` (``FOR UPDATE ... SKIP LOCKED`` on PostgreSQL)
lets concurrent leasers pass each other's rows instead of waiting. The leased rows come back in
one statement, each subscription opened once per lease. Replays and pruning are
:mod:`~connector.emitter.sql_replay`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

from connector.emitter.database import Cursor
from connector.emitter.sql_log import SQLEventLog
from connector.emitter.sql_rows import EVENT_COLUMNS, SUBSCRIPTION_COLUMNS, event_from_row
from connector.emitter.store import (
    ATTEMPTS_KEPT,
    RESPONSE_KEPT,
    Attempt,
    Lease,
    Subscription,
)

__all__ = ["SQLDeliveryQueue"]

log = logging.getLogger("connector.emitter")
# A lease capped per subscription ranks this many times its limit of the oldest due rows.
# Ranking costs per row looked at (about 20 us a row leased at 10 times, 6 us at 3 times);
# a subscription the deliverer has saturated is excluded before the scan, so a backlog
# dominated by one endpoint still fills the lease from the others.
LEASE_WINDOW = 3


class _LeaseLost(Exception):
    """A batch held a lease that was lost meanwhile: recorded one by one instead."""


def _rows(result: Any) -> int:
    """Rows affected by an ``executemany`` (sqlite3 gives a cursor, the PostgreSQL port an int)."""
    return result if isinstance(result, int) else int(result.rowcount)


class SQLDeliveryQueue(SQLEventLog):
    """The delivery half of :class:`~connector.emitter.sql_store.SQLStore`."""

    # deliveries --------------------------------------------------------------------------

    def lease_due(
        self,
        now: float,
        limit: int,
        worker: str,
        lease_seconds: float,
        *,
        exclude_subscriptions: Collection[str] = (),
        per_subscription: int | None = None,
    ) -> list[Lease]:
        """Claim up to ``limit`` due deliveries (or expired leases) of active subscriptions,
        skipping ``exclude_subscriptions`` (endpoints the worker has saturated) and taking at
        most ``per_subscription`` of any one subscription."""
        token = f"{worker}#{next(self._tokens)}"
        skip = list(exclude_subscriptions)
        skip_sql = f" AND d.subscription_id NOT IN ({','.join('?' * len(skip))})" if skip else ""
        # A leased row's next_attempt_at is its lease expiry, so one index finds both due
        # work and work whose worker died.
        # A lease stamped further ahead than twice its length was taken before the wall
        # clock jumped back: its worker's time is not ours, so it counts as expired. The
        # margin of a whole lease is what keeps a live lease live when another worker's
        # clock reads a little ahead (another replica, or one that read its clock before
        # waiting for this transaction): at one lease length, a lease taken a few
        # milliseconds "later" looked expired and the delivery was sent twice. A jump back
        # of up to one lease length stretches a dead worker's lease to at most two.
        # The status term stands alone (the due index's own condition), so the scan walks
        # that index in its order and stops at the limit.
        due = (
            f"SELECT d.id, d.subscription_id, d.next_attempt_at FROM deliveries d{self.db.due_index}"
            " JOIN subscriptions s ON s.id = d.subscription_id"
            " WHERE d.status IN ('pending', 'delivering') AND (d.next_attempt_at <= ?"
            " OR (d.status = 'delivering' AND d.next_attempt_at > ?))"
            f" AND s.state = 'active'{skip_sql} ORDER BY d.next_attempt_at, d.id LIMIT ?"
            f"{self.db.lease_lock}"
        )
        params: list[Any] = [now, now + 2 * lease_seconds, *skip]
        if per_subscription is None:
            pick = f"SELECT id FROM ({due}) AS due"
            params.append(limit)
        else:
            # Rank only a bounded window of the oldest due rows, so a large backlog costs
            # no more than a small one.
            pick = (
                "SELECT id FROM (SELECT id, next_attempt_at, ROW_NUMBER() OVER (PARTITION BY"
                f" subscription_id ORDER BY next_attempt_at, id) AS rn FROM ({due}) AS due)"
                " AS ranked WHERE rn <= ? ORDER BY next_attempt_at, id LIMIT ?"
            )
            params += [limit * LEASE_WINDOW, per_subscription, limit]
        with self.db.transaction("cannot lease deliveries") as db:
            claimed = db.execute(
                "UPDATE deliveries SET status = 'delivering', lease_owner = ?,"
                f" next_attempt_at = ?, updated_at = ? WHERE id IN ({pick}) RETURNING id",
                (token, now + lease_seconds, now, *params),
            ).fetchall()
            if not claimed:
                return []
            ids = [r[0] for r in claimed]
            marks = ",".join("?" * len(ids))
            rows = db.execute(
                f"SELECT d.id, d.attempts, {EVENT_COLUMNS}, {SUBSCRIPTION_COLUMNS} FROM deliveries d"
                " JOIN events e ON e.id = d.event_id JOIN subscriptions s ON s.id = d.subscription_id"
                f" WHERE d.id IN ({marks}) ORDER BY d.next_attempt_at, d.id",
                ids,
            ).fetchall()
            subscriptions: dict[str, Subscription] = {}
            leases = []
            for r in rows:
                sub = subscriptions.get(r[9])
                if sub is None:
                    sub = subscriptions[r[9]] = self.outbox.subscription(r[9:], now)
                leases.append(Lease(r[0], token, r[1], event_from_row(r[2:9]), sub))
            broken = [x for x in leases if x.subscription.state != "active"]
            self._set_broken_aside(db, broken, now)
        return [x for x in leases if x.subscription.state == "active"]

    def _set_broken_aside(self, db: Cursor, leases: list[Lease], now: float) -> None:
        """Mark the subscriptions of ``leases`` broken (their secret cannot be opened) and
        hand their deliveries back untouched: they wait for a rotation, the rest flow."""
        broken = {x.subscription.id: x.subscription.disabled_reason for x in leases}
        for sub_id, reason in broken.items():
            db.execute(
                "UPDATE subscriptions SET state = 'broken', disabled_reason = ? WHERE id = ?",
                (reason, sub_id),
            )
            log.error("ALERT subscription %s is broken: %s", sub_id, reason)
        db.executemany(
            "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt_at = ?"
            " WHERE id = ?",
            [(now, x.delivery_id) for x in leases],
        )

    def _record(
        self,
        lease: Lease,
        attempt: Attempt,
        status: str,
        next_attempt_at: float | None,
        disable: str | None,
    ) -> bool:
        with self.db.transaction("cannot record the attempt") as db:
            return self._record_in(db, lease, attempt, status, next_attempt_at, disable)

    def _record_in(
        self,
        db: Cursor,
        lease: Lease,
        attempt: Attempt,
        status: str,
        next_attempt_at: float | None,
        disable: str | None,
        *,
        failure_clock: bool = True,
    ) -> bool:
        """One attempt's rows, inside the caller's transaction; False if the lease was lost.
        Without ``failure_clock`` the subscription's failure clock is the caller's to set."""
        updated = db.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
            " lease_owner = NULL, last_status = ?, last_error = ?, updated_at = ?"
            " WHERE id = ? AND lease_owner = ? AND status = 'delivering'",
            (
                status,
                next_attempt_at,
                attempt.status,
                attempt.error,
                attempt.attempted_at,
                lease.delivery_id,
                lease.worker,
            ),
        ).rowcount
        if updated != 1:
            return False
        db.execute(
            "INSERT INTO attempts (delivery_id, attempted_at, status, latency_ms, error,"
            " response) VALUES (?, ?, ?, ?, ?, ?)",
            (
                lease.delivery_id,
                attempt.attempted_at,
                attempt.status,
                attempt.latency_ms,
                attempt.error,
                bytes(attempt.response[:RESPONSE_KEPT]),
            ),
        )
        if lease.attempts + 1 > ATTEMPTS_KEPT:
            db.execute(
                "DELETE FROM attempts WHERE delivery_id = ? AND id NOT IN (SELECT id FROM"
                " attempts WHERE delivery_id = ? ORDER BY id DESC LIMIT ?)",
                (lease.delivery_id, lease.delivery_id, ATTEMPTS_KEPT),
            )
        sub = lease.subscription.id
        if status == "delivered":
            if failure_clock:
                self._reset_failure_clock(db, sub)
        else:
            db.execute(
                "UPDATE subscriptions SET failing_since = COALESCE(failing_since, ?),"
                " failures = failures + 1 WHERE id = ?",
                (attempt.attempted_at, sub),
            )
        if disable is not None:
            db.execute(
                "UPDATE subscriptions SET state = 'disabled', disabled_reason = ?,"
                " updated_at = ? WHERE id = ?",
                (disable, attempt.attempted_at, sub),
            )
        return True

    def _reset_failure_clock(self, db: Cursor, subscription_id: str) -> None:
        db.execute(
            "UPDATE subscriptions SET failing_since = NULL, failures = 0 WHERE id = ?"
            " AND (failing_since IS NOT NULL OR failures > 0)",
            (subscription_id,),
        )

    def complete(self, lease: Lease, attempt: Attempt) -> bool:
        """The attempt succeeded (2xx): delivered, and the endpoint's failure clock resets."""
        return self._record(lease, attempt, "delivered", None, None)

    def complete_many(self, done: Sequence[tuple[Lease, Attempt]]) -> list[bool]:
        """:meth:`complete` for several successful attempts in one transaction (group
        commit): all are recorded or, if the transaction fails, none is."""
        if not done:
            return []
        try:
            return self._complete_all(done)
        except _LeaseLost:
            pass
        with self.db.transaction("cannot record the attempts") as db:
            recorded = [
                self._record_in(db, lease, attempt, "delivered", None, None, failure_clock=False)
                for lease, attempt in done
            ]
            # Each endpoint's failure clock is reset once per batch, not once per attempt.
            settled = zip(done, recorded, strict=True)
            for sub in dict.fromkeys(lease.subscription.id for (lease, _), ok in settled if ok):
                self._reset_failure_clock(db, sub)
            return recorded

    def _complete_all(self, done: Sequence[tuple[Lease, Attempt]]) -> list[bool]:
        """The common case in a few statements of many rows each (pipelined on PostgreSQL):
        every lease still held. Raises :class:`_LeaseLost` (rolled back) if one was lost."""
        with self.db.transaction("cannot record the attempts") as db:
            updated = _rows(
                db.executemany(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1,"
                    " next_attempt_at = NULL, lease_owner = NULL, last_status = ?,"
                    " last_error = NULL, updated_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND status = 'delivering'",
                    [(a.status, a.attempted_at, x.delivery_id, x.worker) for x, a in done],
                )
            )
            if updated != len(done):
                raise _LeaseLost
            db.executemany(
                "INSERT INTO attempts (delivery_id, attempted_at, status, latency_ms, error,"
                " response) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        x.delivery_id,
                        a.attempted_at,
                        a.status,
                        a.latency_ms,
                        a.error,
                        bytes(a.response[:RESPONSE_KEPT]),
                    )
                    for x, a in done
                ],
            )
            for lease, _ in done:
                if lease.attempts + 1 > ATTEMPTS_KEPT:
                    db.execute(
                        "DELETE FROM attempts WHERE delivery_id = ? AND id NOT IN (SELECT id"
                        " FROM attempts WHERE delivery_id = ? ORDER BY id DESC LIMIT ?)",
                        (lease.delivery_id, lease.delivery_id, ATTEMPTS_KEPT),
                    )
            for sub in dict.fromkeys(lease.subscription.id for lease, _ in done):
                self._reset_failure_clock(db, sub)
        return [True] * len(done)

    def reschedule(
        self, lease: Lease, attempt: Attempt, next_attempt_at: float, *, disable: str | None = None
    ) -> bool:
        """The attempt failed; try again at ``next_attempt_at`` (optionally disabling the endpoint)."""
        return self._record(lease, attempt, "pending", next_attempt_at, disable)

    def fail(self, lease: Lease, attempt: Attempt, *, disable: str | None = None) -> bool:
        """The last attempt failed: the delivery becomes a dead letter (status ``failed``)."""
        return self._record(lease, attempt, "failed", None, disable)

    def release(self, lease: Lease) -> None:
        """Give a lease back without recording an attempt; it is due again at once."""
        with self.db.transaction("cannot release a lease") as db:
            db.execute(
                "UPDATE deliveries SET status = 'pending', lease_owner = NULL,"
                " next_attempt_at = ? WHERE id = ? AND lease_owner = ? AND status = 'delivering'",
                (self._clock(), lease.delivery_id, lease.worker),
            )
