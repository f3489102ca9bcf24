"""The SQLite implementation of :class:`connector.emitter.store.Store`.

Subscriptions, snapshots and events live here; deliveries in
:mod:`~connector.emitter.queue_sqlite`, the connection and the schema in
:mod:`~connector.emitter.sqlite_database` (which says how several processes share one file).
"""

from __future__ import annotations

import base64
import json
import secrets as _random
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from connector.emitter.encoding import storable_text
from connector.emitter.queue_sqlite import SQLiteDeliveryQueue
from connector.emitter.signing import generate_secret, parse_secret
from connector.emitter.sqlite_database import SUBSCRIPTION_COLUMNS, store_error
from connector.emitter.store import (
    MAX_OLD_SECRETS,
    ROTATION_GRACE,
    Event,
    QuarantinedRecord,
    SnapshotRecord,
    Subscription,
    filter_matches,
)
from connector.errors import StoreError, SubscriptionError

__all__ = ["SQLiteStore"]


def _check_events(events: Sequence[str]) -> tuple[str, ...]:
    if isinstance(events, str):
        events = [e for e in events.split(",") if e]
    for pattern in events:
        body = pattern[:-2] if pattern.endswith(".*") else pattern
        if pattern != "*" and not all(p and p.replace("_", "a").isalnum() for p in body.split(".")):
            raise SubscriptionError(f"bad event filter {pattern!r}", field="events")
    return tuple(events)


class SQLiteStore(SQLiteDeliveryQueue):
    """The emitter's state in one SQLite file; safe to share between processes.

    ``clock`` gives the current time (epoch seconds) where a method takes none; ``guard``
    validates subscription URLs when they are added (``Guard(allow_private=True)`` for tests).
    """

    def add_subscription(
        self, url: str, events: Sequence[str] = (), secret: str | None = None
    ) -> Subscription:
        """Register an endpoint; the URL goes through the guard, the secret is generated if absent."""
        self._guard.validate_url(url)
        patterns = _check_events(events)
        secret = secret or generate_secret()
        parse_secret(secret)
        sub_id = "sub_" + base64.b32encode(_random.token_bytes(10)).decode().lower()
        now = self._clock()
        with self._write() as db:
            db.execute(
                "INSERT INTO subscriptions (id, url, events, secret, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sub_id, url, json.dumps(patterns), self._box.seal(secret), now, now),
            )
        return self.get_subscription(sub_id)

    def list_subscriptions(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        now = self._clock()
        rows = self._read(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s ORDER BY s.created_at, s.id"
        )
        return [self._subscription(r, now) for r in rows]

    def get_subscription(self, subscription_id: str) -> Subscription:
        """One subscription; :class:`SubscriptionError` if unknown."""
        rows = self._read(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = ?", (subscription_id,)
        )
        if not rows:
            raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
        return self._subscription(rows[0], self._clock())

    def remove_subscription(self, subscription_id: str) -> None:
        """Delete a subscription with its deliveries and their attempts."""
        self.get_subscription(subscription_id)
        with self._write() as db:
            db.execute(
                "DELETE FROM attempts WHERE delivery_id IN"
                " (SELECT id FROM deliveries WHERE subscription_id = ?)",
                (subscription_id,),
            )
            db.execute("DELETE FROM deliveries WHERE subscription_id = ?", (subscription_id,))
            db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))

    def rotate_secret(self, subscription_id: str, secret: str | None = None) -> str:
        """Make ``secret`` (or a fresh one) current; the old one keeps signing for 24 h."""
        secret = secret or generate_secret()
        parse_secret(secret)
        now = self._clock()
        with self._write() as db:
            row = db.execute(
                "SELECT secret, old_secrets FROM subscriptions WHERE id = ?", (subscription_id,)
            ).fetchone()
            if row is None:
                raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
            # Only secrets this key opens stay valid: rotating is how a broken subscription
            # (secret sealed under another key, a tampered row) is repaired.
            old = [[s, e] for s, e in _old_secrets(row[1]) if e > now and self._opens(s)]
            if self._opens(row[0]):
                old.insert(0, [row[0], now + ROTATION_GRACE])
            db.execute(
                "UPDATE subscriptions SET secret = ?, old_secrets = ?, updated_at = ?,"
                " state = CASE WHEN state = 'broken' THEN 'active' ELSE state END,"
                " disabled_reason = CASE WHEN state = 'broken' THEN NULL ELSE disabled_reason END"
                " WHERE id = ?",
                (self._box.seal(secret), json.dumps(old[:MAX_OLD_SECRETS]), now, subscription_id),
            )
        return secret

    def _opens(self, sealed: object) -> bool:
        try:
            self._box.open(str(sealed))
        except StoreError:
            return False
        return True

    def _set_state(self, subscription_id: str, state: str, reason: str | None) -> None:
        self.get_subscription(subscription_id)
        with self._write() as db:
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
        if not self._read("SELECT 1 FROM baselines WHERE resource = ?", (resource,)):
            return None
        rows = self._read(
            "SELECT record_id, state, terminal FROM snapshots WHERE resource = ?", (resource,)
        )
        return {r[0]: SnapshotRecord(json.loads(r[1]), bool(r[2])) for r in rows}

    def _insert_events(
        self, db: sqlite3.Connection, events: Iterable[Event], now: float
    ) -> list[str]:
        subs: list[tuple[str, tuple[str, ...]]] | None = None
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
                subs = [
                    (r[0], tuple(json.loads(r[1])))
                    for r in db.execute(
                        "SELECT id, events FROM subscriptions WHERE state IN ('active', 'broken')"
                    )
                ]
            db.executemany(
                "INSERT INTO deliveries (event_id, subscription_id, status, next_attempt_at,"
                " updated_at) VALUES (?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
                [
                    (event.id, sid, now, now)
                    for sid, patterns in subs
                    if filter_matches(patterns, event.type)
                ],
            )
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
    ) -> list[str]:
        """Snapshot changes, the baseline flag and new events with their deliveries, atomically."""
        now = self._clock() if now is None else now
        try:
            with self._write() as db:
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
                return self._insert_events(db, events, now)
        except sqlite3.Error as exc:
            raise store_error("cannot commit the poll", exc, self.location) from None

    def record_event(self, event: Event) -> bool:
        """Store one write-through event and queue its deliveries; False if it existed."""
        try:
            with self._write() as db:
                return bool(self._insert_events(db, [event], self._clock()))
        except sqlite3.Error as exc:
            raise store_error("cannot record the event", exc, self.location) from None

    # poison records ----------------------------------------------------------------------

    def quarantine(self, resource: str, reasons: Mapping[str, str], now: float) -> None:
        """Note records that cannot become events (id -> why), or note them again."""
        try:
            with self._write() as db:
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
        except sqlite3.Error as exc:
            raise store_error("cannot quarantine records", exc, self.location) from None

    def list_quarantined(self) -> list[QuarantinedRecord]:
        """Every quarantined record, most recently seen first."""
        rows = self._read(
            "SELECT resource, record_id, reason, first_at, last_at, times FROM quarantine"
            " ORDER BY last_at DESC, resource, record_id"
        )
        return [QuarantinedRecord(*row) for row in rows]


def _old_secrets(stored: str) -> list[tuple[object, float]]:
    try:
        return [(s, float(e)) for s, e in json.loads(stored)]
    except (ValueError, TypeError):
        return []
