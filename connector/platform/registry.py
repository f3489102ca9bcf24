"""The service's own tables in the state file: connections (secrets sealed) and API tokens.

Kept apart from the emitter's schema (its own ``CREATE TABLE IF NOT EXISTS``), in the same
SQLite file as ``--state``; the secrets are sealed with the emitter's
:class:`~connector.emitter.sealing.SecretBox` under the same state key. A token is stored as
its SHA-256 only: it is printed once by ``connector tokens add`` and cannot be read back.

Tables: ``platform_connections`` (id, name, definition, base_url; params, headers and
credentials each sealed as a JSON text, since a header or a param may carry a secret too) and
``platform_tokens`` (name, sha256 hex).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from connector.emitter.sealing import SecretBox
from connector.errors import StoreError

__all__ = ["Connection", "Registry", "TokenInfo", "hash_token", "new_token"]

SCHEMA_VERSION = 1
_SCHEMA = """
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
"""
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
    """Connections and tokens in the state file; safe to share between threads."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        try:
            self._db = sqlite3.connect(
                self.location, timeout=10.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the state file: {exc}", location=self.location) from None
        self._box = SecretBox.for_store(self.location)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Registry {self.location}>"

    def close(self) -> None:
        """Release the database."""
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"state file: {exc}", location=self.location) from None

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"state file: {exc}", location=self.location) from None

    def ping(self) -> None:
        """Raise StoreError unless the state file answers (``/readyz``)."""
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
        try:
            with self._write() as db:
                db.execute(
                    f"INSERT INTO platform_connections ({self._COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
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
                )
        except sqlite3.IntegrityError:
            return None
        return self.get_connection(connection_id)

    def get_connection(self, connection_id: str) -> Connection | None:
        """The connection with this id (or name), or None."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM platform_connections WHERE id = ? OR name = ?",
            (connection_id, connection_id),
        )
        return self._connection(rows[0]) if rows else None

    def list_connections(self) -> list[Connection]:
        """Every connection, oldest first."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM platform_connections ORDER BY created_at, id"
        )
        return [self._connection(row) for row in rows]

    def update_connection(self, connection: Connection) -> Connection | None:
        """Write back a changed connection (same id); None when gone or the name is taken."""
        try:
            with self._write() as db:
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
        except sqlite3.IntegrityError:
            return None
        return self.get_connection(connection.id) if changed else None

    def delete_connection(self, connection_id: str) -> bool:
        """Forget a connection; False when there was none."""
        with self._write() as db:
            return bool(
                db.execute(
                    "DELETE FROM platform_connections WHERE id = ?", (connection_id,)
                ).rowcount
            )

    # tokens ------------------------------------------------------------------------------

    def add_token(self, name: str) -> str:
        """Make a token named ``name``; return it (the only time it is seen)."""
        if not _TOKEN_NAME.match(name):
            raise StoreError("a token name is 1-64 letters, digits or . _ @ -")
        token = new_token()
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO platform_tokens (name, digest, created_at) VALUES (?, ?, ?)",
                    (name, hash_token(token), time.time()),
                )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"a token named {name!r} exists; remove it first (connector tokens remove {name})"
            ) from None
        return token

    def list_tokens(self) -> list[TokenInfo]:
        """Every token's name and creation time."""
        rows = self._read("SELECT name, created_at FROM platform_tokens ORDER BY name")
        return [TokenInfo(str(r[0]), float(r[1])) for r in rows]  # type: ignore[arg-type]

    def remove_token(self, name: str) -> bool:
        """Revoke a token; False when there was none by that name."""
        with self._write() as db:
            return bool(db.execute("DELETE FROM platform_tokens WHERE name = ?", (name,)).rowcount)

    def token_name(self, token: str) -> str | None:
        """The name of the token, or None: compared in constant time against every digest."""
        digest = hash_token(token)
        found = None
        for name, stored in self._read("SELECT name, digest FROM platform_tokens"):
            if hmac.compare_digest(str(stored), digest):
                found = str(name)
        return found
