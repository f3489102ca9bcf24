"""Replays and pruning in the SQL store: queueing stored events again (one, a subscriber's
history, the dead letters) and forgetting settled ones (``connector events replay``,
``subscriptions add --since``, ``events prune``). Each is one transaction; a replay wakes
listening deliverers on commit."""

from __future__ import annotations

from typing import Any

from connector.emitter.outbox import matching
from connector.emitter.sql_rows import SQLBase
from connector.errors import StoreError, SubscriptionError

__all__ = ["SQLReplays"]


class SQLReplays(SQLBase):
    """The replay half of :class:`~connector.emitter.sql_store.SQLStore`."""

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
