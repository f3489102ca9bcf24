"""Deliveries in the SQL store: leasing, recording attempts, replay and the event log.

See :mod:`connector.emitter.store` for the contract and :mod:`connector.emitter.database` for
what a backend gives. Leasing is one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING``;
the backend's ``lease_lock`` (``FOR UPDATE ... SKIP LOCKED`` on PostgreSQL) lets concurrent
leasers pass each other's rows instead of waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

from connector.emitter.database import Cursor
from connector.emitter.outbox import matching
from connector.emitter.sql_log import SQLEventLog
from connector.emitter.sql_rows import EVENT_COLUMNS, SUBSCRIPTION_COLUMNS, event_from_row
from connector.emitter.store import (
    ATTEMPTS_KEPT,
    RESPONSE_KEPT,
    Attempt,
    Lease,
)
from connector.errors import StoreError, SubscriptionError

__all__ = ["SQLDeliveryQueue"]

log = logging.getLogger("connector.emitter")


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
        # A lease stamped further ahead than its length was taken before the wall clock
        # jumped back: its worker's time is not ours, so it counts as expired.
        due = (
            "SELECT d.id, d.subscription_id, d.next_attempt_at FROM deliveries d"
            " JOIN subscriptions s ON s.id = d.subscription_id"
            " WHERE ((d.status IN ('pending', 'delivering') AND d.next_attempt_at <= ?)"
            " OR (d.status = 'delivering' AND d.next_attempt_at > ?))"
            f" AND s.state = 'active'{skip_sql} ORDER BY d.next_attempt_at, d.id LIMIT ?"
            f"{self.db.lease_lock}"
        )
        params: list[Any] = [now, now + lease_seconds, *skip]
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
            params += [limit * 10, per_subscription, limit]
        with self.db.transaction("cannot lease deliveries") as db:
            # A leased row's next_attempt_at is its lease expiry, so one index finds both
            # due work and work whose worker died.
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
            leases = [
                Lease(
                    r[0], token, r[1], event_from_row(r[2:9]), self.outbox.subscription(r[9:], now)
                )
                for r in rows
            ]
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

    # replay and inspection ---------------------------------------------------------------

    def replay(self, event_id: str, subscription_id: str | None = None) -> int:
        """Queue an event again now, for every matching active subscription or just one."""
        now = self._clock()
        with self.db.transaction("cannot update the state store") as db:
            row = db.execute("SELECT type FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                raise StoreError(f"no event {event_id!r}", location=self.location)
            if subscription_id is not None:
                if (
                    db.execute(
                        "SELECT 1 FROM subscriptions WHERE id = ?", (subscription_id,)
                    ).fetchone()
                    is None
                ):
                    raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
                targets = [subscription_id]
            else:
                active = db.execute("SELECT id, events FROM subscriptions WHERE state = 'active'")
                targets = matching(active.fetchall(), row[0])
            db.executemany(
                "INSERT INTO deliveries (event_id, subscription_id, status, next_attempt_at,"
                " updated_at) VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (event_id, subscription_id)"
                " DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at,"
                " lease_owner = NULL, updated_at = excluded.updated_at",
                [(event_id, sid, now, now) for sid in targets],
            )
            self.db.wake(db)
        return len(targets)

    def queue_history(self, subscription_id: str, since: float) -> int:
        """Queue for one subscription every stored event created since ``since`` that its filter
        matches and it was not already sent: a new subscriber catching up. Returns how many."""
        now = self._clock()
        with self.db.transaction("cannot update the state store") as db:
            row = db.execute(
                "SELECT events FROM subscriptions WHERE id = ?", (subscription_id,)
            ).fetchone()
            if row is None:
                raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
            wanted = [
                event_id
                for event_id, event_type in db.execute(
                    "SELECT id, type FROM events WHERE created_at >= ? ORDER BY created_at, id",
                    (since,),
                ).fetchall()
                if matching([(subscription_id, row[0])], event_type)
            ]
            queued = 0
            for event_id in wanted:
                cursor = db.execute(
                    "INSERT INTO deliveries (event_id, subscription_id, status, next_attempt_at,"
                    " updated_at) VALUES (?, ?, 'pending', ?, ?)"
                    " ON CONFLICT (event_id, subscription_id) DO NOTHING",
                    (event_id, subscription_id, now, now),
                )
                queued += cursor.rowcount
            self.db.wake(db)
        return queued

    def prune(self, before: float) -> int:
        """Forget events created before ``before`` whose every delivery is settled (delivered
        or a dead letter), with those deliveries and their attempts; returns how many events.

        Events still pending for anyone are kept. The snapshots are untouched, so a pruned
        event cannot be detected (and sent) again.
        """
        with self.db.transaction("cannot update the state store") as db:
            old = [
                r[0]
                for r in db.execute(
                    "SELECT e.id FROM events e WHERE e.created_at < ? AND NOT EXISTS"
                    " (SELECT 1 FROM deliveries d WHERE d.event_id = e.id"
                    " AND d.status IN ('pending', 'delivering'))",
                    (before,),
                )
            ]
            for start in range(0, len(old), 500):
                chunk = old[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    "DELETE FROM attempts WHERE delivery_id IN"
                    f" (SELECT id FROM deliveries WHERE event_id IN ({marks}))",
                    chunk,
                )
                db.execute(f"DELETE FROM deliveries WHERE event_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM events WHERE id IN ({marks})", chunk)
        return len(old)

    def replay_failed(
        self, since: float, until: float | None = None, subscription_id: str | None = None
    ) -> int:
        """Queue again every dead letter whose event was created in [since, until]."""
        now = self._clock()
        until = now if until is None else until
        sql = (
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
            " updated_at = ? WHERE status = 'failed' AND event_id IN"
            " (SELECT id FROM events WHERE created_at >= ? AND created_at <= ?)"
        )
        params: list[Any] = [now, now, since, until]
        if subscription_id is not None:
            sql += " AND subscription_id = ?"
            params.append(subscription_id)
        with self.db.transaction("cannot replay dead letters") as db:
            count = int(db.execute(sql, params).rowcount)
            self.db.wake(db)
        return count
