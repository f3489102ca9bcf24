"""The service's own tables in the state store: connections (secrets sealed) and API tokens.

The tables are part of the store's schema (a migration of
:mod:`connector.emitter.sqlite_database` and :mod:`connector.emitter.postgres_database`), so
they live wherever ``--state`` / ``CONNECTOR_STATE`` points: a SQLite file or a PostgreSQL
database. The SQL goes through the store's database (``?`` placeholders, one transaction per
write) and the secrets are sealed with the store's
:class:`~connector.emitter.sealing.SecretBox`. A token is stored as its SHA-256 only: it is
printed once by ``connector tokens add`` and cannot be read back.

Tables: ``platform_connections`` (id, name, definition, base_url; params, headers and
credentials each sealed as a JSON text, since a header or a param may carry a secret too) and
``platform_tokens`` (name, sha256 hex).

**The cache.** The service looks up a token and a connection on every request; both are kept
in memory (the connection opened from its sealed fields once) and the cache is checked on
every request against what the database says changed: SQLite's ``PRAGMA data_version``
(which moves whenever another connection, say ``connector tokens remove`` in another
process, commits to the file) plus this registry's own writes, or on PostgreSQL the
``platform_revision`` counter that a trigger bumps on any change to the two tables (another
replica's included). One cheap read per request instead of two reads and three openings of
sealed fields, and a token removed anywhere is refused at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.emitter.backends import open_store
from connector.emitter.postgres_database import PostgresDatabase
from connector.emitter.sql_store import SQLStore
from connector.errors import StoreError

__all__ = ["Connection", "Registry", "TokenInfo", "hash_token", "new_token"]

_TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def new_token() -> str:
    """A fresh bearer token: ``cst_`` + 256 random bits."""
    return "cst_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored of a token (tokens are random, so a plain SHA-256 is enough)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Connection:
    """A configured instance of a definition. ``credentials`` never appear in a repr."""

    id: str
    name: str
    definition: str
    base_url: str | None
    params: dict[str, str]
    headers: dict[str, str]
    credentials: dict[str, str] = field(repr=False)
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class TokenInfo:
    """A token's name and age (never the token)."""

    name: str
    created_at: float


class Registry:
    """Connections and tokens in the state store; safe to share between threads.

    Give it an open SQL store (the service shares its own), or a location to open one that
    the registry then owns and closes.
    """

    def __init__(self, store: SQLStore | str | Path) -> None:
        self._owned = not isinstance(store, SQLStore)
        if isinstance(store, SQLStore):
            opened = store
        else:
            made = open_store(str(store))
            if not isinstance(made, SQLStore):  # pragma: no cover - every backend is SQL
                raise StoreError("the state store has no SQL database", location=str(store))
            opened = made
        self.store = opened
        self.location = opened.db.location
        self._db = opened.db
        self._box = opened.outbox.box
        self._revision_sql = (
            "SELECT n FROM platform_revision"
            if isinstance(self._db, PostgresDatabase)
            else "PRAGMA data_version"
        )
        self._writes = 0  # this registry's own (SQLite's data_version does not count them)
        self._seen: tuple[int, int] | None = None
        self._digests: list[tuple[str, str]] | None = None  # (sha256 hex, name)
        self._connections: dict[str, Connection] = {}  # by id and by name

    def __repr__(self) -> str:
        return f"<Registry {self.location}>"

    def close(self) -> None:
        """Release the store when the registry opened it."""
        if self._owned:
            self.store.close()

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        return list(self._db.read(sql, params))

    def refresh(self) -> None:
        """Drop the cache when the tables changed since it was filled (one small read)."""
        seen = (int(self._read(self._revision_sql)[0][0]), self._writes)
        if seen != self._seen:
            self._digests = None
            self._connections = {}
            self._seen = seen

    def _wrote(self) -> None:
        self._writes += 1
        self._digests = None
        self._connections = {}

    def ping(self) -> None:
        """Raise StoreError unless the state store answers (``/readyz``)."""
        self._read("SELECT 1 FROM platform_tokens LIMIT 1")

    # connections -------------------------------------------------------------------------

    def _connection(self, row: tuple[object, ...]) -> Connection:
        sealed = str(row[6])
        return Connection(
            id=str(row[0]),
            name=str(row[1]),
            definition=str(row[2]),
            base_url=None if row[3] is None else str(row[3]),
            params=json.loads(self._box.open(str(row[4]))),
            headers=json.loads(self._box.open(str(row[5]))),
            credentials=json.loads(self._box.open(sealed)),
            created_at=float(row[7]),  # type: ignore[arg-type]
            updated_at=float(row[8]),  # type: ignore[arg-type]
        )

    _COLUMNS = (
        "id, name, definition, base_url, params, headers, credentials, created_at, updated_at"
    )

    def create_connection(
        self,
        name: str,
        definition: str,
        *,
        base_url: str | None,
        params: dict[str, str],
        headers: dict[str, str],
        credentials: dict[str, str],
    ) -> Connection | None:
        """The new connection, or None when ``name`` is taken."""
        now = time.time()
        connection_id = "conn_" + secrets.token_hex(8)
        with self._db.transaction("cannot add the connection") as db:
            added = db.execute(
                f"INSERT INTO platform_connections ({self._COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT DO NOTHING",
                (
                    connection_id,
                    name,
                    definition,
                    base_url,
                    self._box.seal(json.dumps(params)),
                    self._box.seal(json.dumps(headers)),
                    self._box.seal(json.dumps(credentials)),
                    now,
                    now,
                ),
            ).rowcount
        self._wrote()
        return self.get_connection(connection_id) if added else None

    def get_connection(self, connection_id: str, *, refresh: bool = True) -> Connection | None:
        """The connection with this id (or name), or None. ``refresh=False`` trusts a
        :meth:`refresh` made for this request already (the token check's)."""
        if refresh:
            self.refresh()
        found = self._connections.get(connection_id)
        if found is not None:
            return found
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM platform_connections WHERE id = ? OR name = ?",
            (connection_id, connection_id),
        )
        if not rows:
            return None
        found = self._connection(rows[0])
        if self._seen is not None:
            self._connections[found.id] = self._connections[found.name] = found
        return found

    def list_connections(self) -> list[Connection]:
        """Every connection, oldest first."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM platform_connections ORDER BY created_at, id"
        )
        return [self._connection(row) for row in rows]

    def update_connection(self, connection: Connection) -> Connection | None:
        """Write back a changed connection (same id); None when gone or the name is taken."""
        with self._db.transaction("cannot update the connection") as db:
            taken = db.execute(
                "SELECT 1 FROM platform_connections WHERE name = ? AND id <> ?",
                (connection.name, connection.id),
            ).fetchall()
            if taken:
                return None
            changed = db.execute(
                "UPDATE platform_connections SET name = ?, base_url = ?, params = ?,"
                " headers = ?, credentials = ?, updated_at = ? WHERE id = ?",
                (
                    connection.name,
                    connection.base_url,
                    self._box.seal(json.dumps(connection.params)),
                    self._box.seal(json.dumps(connection.headers)),
                    self._box.seal(json.dumps(connection.credentials)),
                    time.time(),
                    connection.id,
                ),
            ).rowcount
        self._wrote()
        return self.get_connection(connection.id) if changed else None

    def delete_connection(self, connection_id: str) -> bool:
        """Forget a connection; False when there was none."""
        with self._db.transaction("cannot delete the connection") as db:
            deleted = db.execute("DELETE FROM platform_connections WHERE id = ?", (connection_id,))
            gone = bool(deleted.rowcount)
        self._wrote()
        return gone

    # tokens ------------------------------------------------------------------------------

    def add_token(self, name: str) -> str:
        """Make a token named ``name``; return it (the only time it is seen)."""
        if not _TOKEN_NAME.match(name):
            raise StoreError("a token name is 1-64 letters, digits or . _ @ -")
        token = new_token()
        with self._db.transaction("cannot add the token") as db:
            added = db.execute(
                "INSERT INTO platform_tokens (name, digest, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (name, hash_token(token), time.time()),
            ).rowcount
        self._wrote()
        if not added:
            raise StoreError(
                f"a token named {name!r} exists; remove it first (connector tokens remove {name})"
            )
        return token

    def list_tokens(self) -> list[TokenInfo]:
        """Every token's name and creation time."""
        rows = self._read("SELECT name, created_at FROM platform_tokens ORDER BY name")
        return [TokenInfo(str(r[0]), float(r[1])) for r in rows]

    def remove_token(self, name: str) -> bool:
        """Revoke a token; False when there was none by that name."""
        with self._db.transaction("cannot remove the token") as db:
            gone = bool(db.execute("DELETE FROM platform_tokens WHERE name = ?", (name,)).rowcount)
        self._wrote()
        return gone

    def token_name(self, token: str) -> str | None:
        """The name of the token, or None: compared in constant time against every digest
        (after a :meth:`refresh`, so a token removed anywhere is refused at once)."""
        self.refresh()
        digests = self._digests
        if digests is None:
            rows = self._read("SELECT digest, name FROM platform_tokens")
            digests = self._digests = [(str(d), str(n)) for d, n in rows]
        digest = hash_token(token)
        found = None
        for stored, name in digests:
            if hmac.compare_digest(stored, digest):
                found = name
        return found
