"""Copying one store into another (``connector store copy``): a user who outgrows SQLite moves
to PostgreSQL without re-firing or dropping an event.

Everything that defines what has been seen and what is owed moves: subscriptions (secrets
opened with the source's key and sealed again with the target's), baselines and snapshots (so
nothing already seen fires again), events with their frozen bodies, deliveries with their
attempts (a delivery leased at the time of the copy is pending again), and quarantined
records. Poll leases do not (they belong to running emitters). The target must be empty;
the copy is one transaction, so it happens whole or not at all.
"""

from __future__ import annotations

import json

from connector.emitter.sql_store import SQLStore
from connector.errors import StoreError

__all__ = ["copy_store"]

_SIMPLE = {
    "baselines": "resource, taken_at",
    "snapshots": "resource, record_id, state, terminal, updated_at",
    "events": "id, type, resource, record_id, path, body, created_at",
    "quarantine": "resource, record_id, reason, first_at, last_at, times",
}


def copy_store(source: SQLStore, target: SQLStore) -> dict[str, int]:
    """Copy ``source`` into the empty ``target``; returns how many rows of each kind."""
    if target.db.read("SELECT 1 FROM subscriptions LIMIT 1") or target.db.read(
        "SELECT 1 FROM events LIMIT 1"
    ):
        raise StoreError(
            "the target store is not empty; copy into a new database", location=target.location
        )
    counts: dict[str, int] = {}
    subscriptions = [
        _resealed(source, target, row)
        for row in source.db.read(
            "SELECT id, url, events, secret, old_secrets, state, disabled_reason, failing_since,"
            " created_at, updated_at, failures FROM subscriptions ORDER BY created_at, id"
        )
    ]
    with target.db.transaction("cannot copy into the target store") as tx:
        tx.executemany(
            "INSERT INTO subscriptions (id, url, events, secret, old_secrets, state,"
            " disabled_reason, failing_since, created_at, updated_at, failures)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            subscriptions,
        )
        counts["subscriptions"] = len(subscriptions)
        for table, columns in _SIMPLE.items():
            rows = source.db.read(f"SELECT {columns} FROM {table}")
            marks = ", ".join("?" * len(columns.split(",")))
            tx.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows],
            )
            counts[table] = len(rows)
        attempts: dict[int, list[tuple[object, ...]]] = {}
        for row in source.db.read(
            "SELECT delivery_id, attempted_at, status, latency_ms, error, response FROM attempts"
            " ORDER BY id"
        ):
            attempts.setdefault(row[0], []).append(tuple(row[1:]))
        deliveries = source.db.read(
            "SELECT id, event_id, subscription_id, status, attempts, next_attempt_at,"
            " last_status, last_error, updated_at FROM deliveries ORDER BY id"
        )
        for row in deliveries:
            status, due = row[3], row[5]
            if status == "delivering":  # its worker is not coming back: due again now
                status = "pending"
            new_id = tx.execute(
                "INSERT INTO deliveries (event_id, subscription_id, status, attempts,"
                " next_attempt_at, last_status, last_error, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (row[1], row[2], status, row[4], due, row[6], row[7], row[8]),
            ).fetchone()[0]
            tx.executemany(
                "INSERT INTO attempts (delivery_id, attempted_at, status, latency_ms, error,"
                " response) VALUES (?, ?, ?, ?, ?, ?)",
                [(new_id, *a[:4], _blob(a[4])) for a in attempts.get(row[0], [])],
            )
        counts["deliveries"] = len(deliveries)
        counts["attempts"] = sum(len(a) for a in attempts.values())
        target.db.wake(tx)
    return counts


def _blob(value: object) -> object:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value


def _resealed(source: SQLStore, target: SQLStore, row: tuple[object, ...]) -> tuple[object, ...]:
    """The subscription row with its secrets sealed under the target's key."""
    try:
        secret = target.outbox.box.seal(source.outbox.box.open(str(row[3])))
        old = [
            [target.outbox.box.seal(source.outbox.box.open(str(s))), e]
            for s, e in json.loads(str(row[4]))
        ]
    except (StoreError, ValueError, TypeError):
        raise StoreError(
            f"the secret of subscription {row[0]} cannot be opened with the source's key; "
            "fix the source (restore its key, or rotate that secret) and copy again",
            location=source.location,
        ) from None
    return (row[0], row[1], row[2], secret, json.dumps(old), *row[5:])
