"""Where pull checkpoints live: a table in the state store's SQLite file (``--state``).

One row per stream (``handle.operation`` plus its parameters); a row is replaced in one
transaction, so a crash leaves the previous checkpoint whole. The pull saves only after its
output is safely written: a crash in between re-pulls, it never skips.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigurationError
from ..types import JSON
from .incremental import Checkpoint

__all__ = ["PullStateStore", "stream_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pull_checkpoints (
    stream TEXT PRIMARY KEY,
    checkpoint TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


def stream_key(handle: str, operation: str, params: Mapping[str, JSON] | None) -> str:
    """``message_batches.list``, or ``files.list {"limit": "5"}`` when params are given."""
    key = f"{handle}.{operation}"
    if params:
        key += " " + json.dumps(dict(params), sort_keys=True, default=str)
    return key


class PullStateStore:
    """Checkpoints by stream in a SQLite file (the emitter's state store, or its own)."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        text = str(path)
        if "://" in text:
            raise ConfigurationError(
                f"pull checkpoints are kept in a SQLite file; {text.split('://')[0]}:// is not supported here",
                setting="--state",
            )
        self.path = Path(text)
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"cannot open the state file {self.path}: {exc}", setting="--state"
            ) from None

    def load(self, stream: str) -> Checkpoint | None:
        """The stored checkpoint, or None (first pull, or no state file yet)."""
        if not self.path.exists():
            return None
        db = self._connect()
        try:
            row = db.execute(
                "SELECT checkpoint FROM pull_checkpoints WHERE stream = ?", (stream,)
            ).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise ConfigurationError(f"cannot read {self.path}: {exc}", setting="--state") from None
        finally:
            db.close()
        return None if row is None else Checkpoint.from_json(row[0])

    def save(self, stream: str, checkpoint: Checkpoint) -> None:
        """Replace the stream's checkpoint in one transaction."""
        self._write(
            "INSERT INTO pull_checkpoints (stream, checkpoint, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET checkpoint = excluded.checkpoint, "
            "updated_at = excluded.updated_at",
            (stream, checkpoint.to_json(), datetime.now(UTC).isoformat()),
        )

    def reset(self, stream: str) -> None:
        """Forget the stream's checkpoint (``--full-refresh``)."""
        if self.path.exists():
            self._write("DELETE FROM pull_checkpoints WHERE stream = ?", (stream,))

    def _write(self, sql: str, values: tuple[str, ...]) -> None:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(_SCHEMA)
            db.execute(sql, values)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"cannot store the pull checkpoint in {self.path}: {exc}", setting="--state"
            ) from None
        finally:
            db.close()
