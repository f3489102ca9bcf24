"""The SQLite schema of the emitter's store, as migrations
(:class:`~connector.emitter.sqlite_database.SQLiteDatabase` applies them at open).

Entry n brings a database from version n to n + 1 (``PRAGMA user_version``). Append, never
edit: another module's tables (a connections store, say) go in as a new entry. Version 1
uses IF NOT EXISTS so that databases made before the schema was versioned (version 0, tables
present) upgrade in place.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    old_secrets TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL DEFAULT 'active',
    disabled_reason TEXT,
    failing_since DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS baselines (
    resource TEXT PRIMARY KEY,
    taken_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    resource TEXT NOT NULL,
    record_id TEXT NOT NULL,
    state TEXT NOT NULL,
    terminal INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (resource, record_id)
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    resource TEXT NOT NULL,
    record_id TEXT NOT NULL,
    path TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events (created_at);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    subscription_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION,
    lease_owner TEXT,
    last_status INTEGER,
    last_error TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, subscription_id);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    attempted_at DOUBLE PRECISION NOT NULL,
    status INTEGER,
    latency_ms DOUBLE PRECISION NOT NULL,
    error TEXT,
    response BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id, id);
""",
    # Failed attempts since the last success (the disable rule counts them, so a clock
    # jump alone cannot disable an endpoint), and records set aside as poison.
    """
ALTER TABLE subscriptions ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
CREATE TABLE quarantine (
    resource TEXT NOT NULL,
    record_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    first_at DOUBLE PRECISION NOT NULL,
    last_at DOUBLE PRECISION NOT NULL,
    times INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (resource, record_id)
);
""",
    # Poll leadership: one emitter polls a resource at a time (see Store.lead_poll).
    """
CREATE TABLE poll_leases (
    resource TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
""",
    # The service's connections (params, headers and credentials sealed) and API tokens
    # (SHA-256 only), see connector.platform.registry. IF NOT EXISTS: state files from before
    # this migration may hold these tables already (the service used to create them itself,
    # with this very schema), and they upgrade in place with their rows.
    """
CREATE TABLE IF NOT EXISTS platform_connections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    base_url TEXT,
    params TEXT NOT NULL,
    headers TEXT NOT NULL,
    credentials TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS platform_tokens (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    created_at DOUBLE PRECISION NOT NULL
);
""",
    # The cursors of feed triggers (connector.emitter.feed_cursors): written in the same
    # transaction as the events a feed poll found.
    """
CREATE TABLE IF NOT EXISTS feed_cursors (
    resource TEXT NOT NULL,
    event TEXT NOT NULL,
    cursor TEXT,
    page_token TEXT,
    note TEXT,
    problem TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (resource, event)
);
""",
]
