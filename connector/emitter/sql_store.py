"""The store in SQL, for any :class:`~connector.emitter.database.Database`: subscriptions,
snapshots, events and quarantined records here, deliveries in
:mod:`~connector.emitter.sql_queue`, replays in :mod:`~connector.emitter.sql_replay`, the
event log's reads in :mod:`~connector.emitter.sql_log`. The rules it applies are :mod:`~connector.emitter.outbox`'s;
this module only stores what they decide.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence

from connector.emitter.database import Cursor
from connector.emitter.encoding import storable_text
from connector.emitter.outbox import matching
from connector.emitter.sql_queue import SQLDeliveryQueue
from connector.emitter.sql_replay import SQLReplays
from connector.emitter.sql_rows import SUBSCRIPTION_COLUMNS
from connector.emitter.store import Event, QuarantinedRecord, SnapshotRecord, Subscription
from connector.errors import SubscriptionError

__all__ = ["SQLStore"]


class SQLStore(SQLDeliveryQueue, SQLReplays):
    """The emitter's state (:class:`~connector.emitter.store.Store`) in a SQL database.

    ``clock`` gives the current time (epoch seconds) where a method takes none; ``guard``
    validates subscription URLs when they are added (``Guard(allow_private=True)`` for tests).
    """

    def add_subscription(
        self, url: str, events: Sequence[str] = (), secret: str | None = None
    ) -> Subscription:
        """Register an endpoint; the URL goes through the guard, the secret is generated if absent."""
        sub_id, url, patterns, sealed = self.outbox.new_subscription(url, events, secret)
        now = self._clock()
        with self.db.transaction("cannot add the subscription") as db:
            db.execute(
                "INSERT INTO subscriptions (id, url, events, secret, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sub_id, url, patterns, sealed, now, now),
            )
        return self.get_subscription(sub_id)

    def list_subscriptions(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        now = self._clock()
        rows = self.db.read(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s ORDER BY s.created_at, s.id"
        )
        return [self.outbox.subscription(r, now) for r in rows]

    def get_subscription(self, subscription_id: str) -> Subscription:
        """One subscription; :class:`SubscriptionError` if unknown."""
        rows = self.db.read(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = ?", (subscription_id,)
        )
        if not rows:
            raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
        return self.outbox.subscription(rows[0], self._clock())

    def remove_subscription(self, subscription_id: str) -> None:
        """Delete a subscription with its deliveries and their attempts."""
        self.get_subscription(subscription_id)
        with self.db.transaction("cannot update the state store") as db:
            db.execute(
                "DELETE FROM attempts WHERE delivery_id IN"
                " (SELECT id FROM deliveries WHERE subscription_id = ?)",
                (subscription_id,),
            )
            db.execute("DELETE FROM deliveries WHERE subscription_id = ?", (subscription_id,))
            db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))

    def rotate_secret(self, subscription_id: str, secret: str | None = None) -> str:
        """Make ``secret`` (or a fresh one) current; the old one keeps signing for 24 h."""
        secret = self.outbox.fresh_secret(secret)
        now = self._clock()
        with self.db.transaction("cannot rotate the secret") as db:
            row = db.execute(
                "SELECT secret, old_secrets FROM subscriptions WHERE id = ?", (subscription_id,)
            ).fetchone()
            if row is None:
                raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
            db.execute(
                "UPDATE subscriptions SET secret = ?, old_secrets = ?, updated_at = ?,"
                " state = CASE WHEN state = 'broken' THEN 'active' ELSE state END,"
                " disabled_reason = CASE WHEN state = 'broken' THEN NULL ELSE disabled_reason END"
                " WHERE id = ?",
                (
                    self.outbox.box.seal(secret),
                    self.outbox.rotation(row[0], row[1], now),
                    now,
                    subscription_id,
                ),
            )
        return secret

    def _set_state(self, subscription_id: str, state: str, reason: str | None) -> None:
        self.get_subscription(subscription_id)
        with self.db.transaction("cannot update the state store") as db:
            db.execute(
                "UPDATE subscriptions SET state = ?, disabled_reason = ?, failing_since = NULL,"
                " failures = 0, updated_at = ? WHERE id = ?",
                (state, reason, self._clock(), subscription_id),
            )

    def enable_subscription(self, subscription_id: str) -> None:
        """Resume deliveries to an endpoint; its failure clock starts afresh."""
        self._set_state(subscription_id, "active", None)

    def disable_subscription(self, subscription_id: str, reason: str) -> None:
        """Stop leasing an endpoint's deliveries (kept for later) and stop queueing new ones."""
        self._set_state(subscription_id, "disabled", reason)

    # snapshots and events ----------------------------------------------------------------

    def load_snapshot(self, resource: str) -> dict[str, SnapshotRecord] | None:
        """The resource's snapshot, or None if no baseline was committed yet."""
        if not self.db.read("SELECT 1 FROM baselines WHERE resource = ?", (resource,)):
            return None
        rows = self.db.read(
            "SELECT record_id, state, terminal FROM snapshots WHERE resource = ?", (resource,)
        )
        return {r[0]: SnapshotRecord(json.loads(r[1]), bool(r[2])) for r in rows}

    def _insert_events(self, db: Cursor, events: Iterable[Event], now: float) -> list[str]:
        subs: list[tuple[str, str]] | None = None
        new: list[str] = []
        for event in events:
            cursor = db.execute(
                "INSERT INTO events (id, type, resource, record_id, path, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    event.id,
                    event.type,
                    event.resource,
                    event.record_id,
                    event.path,
                    bytes(event.body),
                    event.created_at,
                ),
            )
            if cursor.rowcount != 1:
                continue
            new.append(event.id)
            if subs is None:
                subs = db.execute(
                    "SELECT id, events FROM subscriptions WHERE state IN ('active', 'broken')"
                ).fetchall()
            targets = matching(subs, event.type)
            if targets:
                db.executemany(
                    "INSERT INTO deliveries (event_id, subscription_id, status, next_attempt_at,"
                    " updated_at) VALUES (?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
                    [(event.id, sid, now, now) for sid in targets],
                )
        if new:
            self.db.wake(db)
        return new

    def commit_poll(
        self,
        resource: str,
        upserts: Mapping[str, SnapshotRecord],
        deletes: Iterable[str],
        events: Iterable[Event],
        *,
        baseline: bool = False,
        now: float | None = None,
        also: Callable[[Cursor], None] | None = None,
    ) -> list[str]:
        """Snapshot changes, the baseline flag and new events with their deliveries, atomically
        (with ``also``'s writes: a feed's cursor)."""
        now = self._clock() if now is None else now
        with self.db.transaction("cannot commit the poll") as db:
            db.executemany(
                "INSERT INTO snapshots (resource, record_id, state, terminal, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (resource, record_id) DO UPDATE SET"
                " state = excluded.state, terminal = excluded.terminal,"
                " updated_at = excluded.updated_at",
                (
                    (
                        resource,
                        rid,
                        json.dumps(rec.state, separators=(",", ":")),
                        int(rec.terminal),
                        now,
                    )
                    for rid, rec in upserts.items()
                ),
            )
            db.executemany(
                "DELETE FROM snapshots WHERE resource = ? AND record_id = ?",
                ((resource, rid) for rid in deletes),
            )
            if baseline:
                db.execute(
                    "INSERT INTO baselines (resource, taken_at) VALUES (?, ?)"
                    " ON CONFLICT (resource) DO NOTHING",
                    (resource, now),
                )
            if also is not None:
                also(db)
            return self._insert_events(db, events, now)

    def record_event(self, event: Event) -> bool:
        """Store one write-through event and queue its deliveries; False if it existed."""
        with self.db.transaction("cannot record the event") as db:
            return bool(self._insert_events(db, [event], self._clock()))

    # poison records ----------------------------------------------------------------------

    def quarantine(self, resource: str, reasons: Mapping[str, str], now: float) -> None:
        """Note records that cannot become events (id -> why), or note them again."""
        with self.db.transaction("cannot quarantine records") as db:
            db.executemany(
                "INSERT INTO quarantine (resource, record_id, reason, first_at, last_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (resource, record_id) DO UPDATE SET"
                " reason = excluded.reason, last_at = excluded.last_at,"
                " times = quarantine.times + 1",
                [
                    (resource, storable_text(rid), storable_text(why), now, now)
                    for rid, why in reasons.items()
                ],
            )

    def list_quarantined(self) -> list[QuarantinedRecord]:
        """Every quarantined record, most recently seen first."""
        rows = self.db.read(
            "SELECT resource, record_id, reason, first_at, last_at, times FROM quarantine"
            " ORDER BY last_at DESC, resource, record_id"
        )
        return [QuarantinedRecord(*row) for row in rows]

    # poll leadership ---------------------------------------------------------------------

    def lead_poll(self, resource: str, owner: str, now: float, ttl: float) -> bool:
        """Take or keep the right to poll ``resource`` until ``now + ttl``; False while another
        owner holds an unexpired lease. A lease stamped further ahead than twice ``ttl`` (taken
        before the wall clock went back) counts as expired; the margin keeps a live lease of a
        replica whose clock reads a little ahead (as :meth:`lease_due` does for deliveries)."""
        with self.db.transaction("cannot take the poll lease") as db:
            row = db.execute(
                "INSERT INTO poll_leases (resource, owner, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (resource) DO UPDATE SET owner = excluded.owner,"
                " expires_at = excluded.expires_at WHERE poll_leases.owner = excluded.owner"
                " OR poll_leases.expires_at <= ? OR poll_leases.expires_at > ? RETURNING owner",
                (resource, owner, now + ttl, now, now + 2 * ttl),
            ).fetchone()
        return row is not None

    def release_poll(self, resource: str, owner: str) -> None:
        """Give up the poll lease (a clean stop), so another emitter takes over at once."""
        with self.db.transaction("cannot release the poll lease") as db:
            db.execute(
                "DELETE FROM poll_leases WHERE resource = ? AND owner = ?", (resource, owner)
            )

    def poll_leaders(self) -> dict[str, tuple[str, float]]:
        """Who polls which resource, until when: ``{resource: (owner, expires_at)}``."""
        rows = self.db.read("SELECT resource, owner, expires_at FROM poll_leases")
        return {r[0]: (r[1], r[2]) for r in rows}
