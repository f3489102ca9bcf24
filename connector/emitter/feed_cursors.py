"""The durable state of feed triggers: one row per (resource, event) in ``feed_cursors``.

A row holds the cursor the next poll lists from (JSON text, so a large integer history id
stays exact), the page token of a listing the page guard stopped (the next poll continues
it), the last note (a capped poll, a reseed) and the last problem (a bad answer; cleared by
the next good poll). The cursor is written by :func:`advance`, a hook run inside the store's
poll transaction (:meth:`~connector.emitter.store.Store.commit_poll`'s ``also``): the events
a poll found and the cursor past them are committed together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from connector.emitter.database import Cursor, Database
from connector.emitter.encoding import storable_text
from connector.emitter.store import Store
from connector.errors import StoreError
from connector.types import JSON

__all__ = ["FeedState", "advance", "database", "list_feeds", "load", "note_problem"]

NOTE_LIMIT = 500


@dataclass(frozen=True)
class FeedState:
    """What the store holds for one feed. ``cursor`` is None until a baseline was taken."""

    resource: str
    event: str
    cursor: JSON
    page_token: str | None
    note: str | None
    problem: str | None
    updated_at: float


def database(store: Store) -> Database:
    """The store's database (every store is SQL; a foreign one is refused plainly)."""
    db = getattr(store, "db", None)
    if db is None:
        raise StoreError("this store cannot hold feed cursors", location=repr(store))
    return cast(Database, db)


def _state(row: tuple[object, ...]) -> FeedState:
    cursor = json.loads(str(row[2])) if row[2] is not None else None
    return FeedState(
        str(row[0]),
        str(row[1]),
        cursor,
        None if row[3] is None else str(row[3]),
        None if row[4] is None else str(row[4]),
        None if row[5] is None else str(row[5]),
        float(cast(float, row[6])),
    )


_COLUMNS = "resource, event, cursor, page_token, note, problem, updated_at"


def load(store: Store, resource: str, event: str) -> FeedState | None:
    """The feed's state, or None when no baseline cursor was committed yet."""
    rows = database(store).read(
        f"SELECT {_COLUMNS} FROM feed_cursors WHERE resource = ? AND event = ?",
        (resource, event),
    )
    if not rows or rows[0][2] is None:
        return None
    return _state(rows[0])


def list_feeds(store: Store) -> list[FeedState]:
    """Every feed's state, by resource and event (``connector status``)."""
    rows = database(store).read(f"SELECT {_COLUMNS} FROM feed_cursors ORDER BY resource, event")
    return [_state(row) for row in rows]


def _text(value: str | None) -> str | None:
    return None if value is None else storable_text(value)[:NOTE_LIMIT]


def advance(
    resource: str,
    event: str,
    cursor: JSON,
    page_token: str | None,
    note: str | None,
    now: float,
) -> Callable[[Cursor], None]:
    """The hook that moves the feed to ``cursor`` (and ``page_token``) inside a transaction,
    clearing the last problem."""
    text = json.dumps(cursor, separators=(",", ":"))

    def write(db: Cursor) -> None:
        db.execute(
            "INSERT INTO feed_cursors (resource, event, cursor, page_token, note, problem,"
            " updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (resource, event) DO"
            " UPDATE SET cursor = excluded.cursor, page_token = excluded.page_token,"
            " note = excluded.note, problem = NULL, updated_at = excluded.updated_at",
            (resource, event, text, page_token, _text(note), now),
        )

    return write


def note_problem(store: Store, resource: str, event: str, problem: str, now: float) -> None:
    """Record why the last poll of the feed failed (the cursor stays where it was)."""
    with database(store).transaction("cannot note the feed's problem") as db:
        db.execute(
            "INSERT INTO feed_cursors (resource, event, problem, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (resource, event) DO UPDATE SET problem = excluded.problem,"
            " updated_at = excluded.updated_at",
            (resource, event, _text(problem), now),
        )
