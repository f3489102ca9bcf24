"""The ``connector store`` commands: the state store's schema and moving it.

::

    connector store migrate              # apply schema migrations to --state / CONNECTOR_STATE
    connector store copy SOURCE TARGET   # e.g. ./connector-state.db postgresql://host/db

Both print one JSON line. A PostgreSQL store needs ``CONNECTOR_STATE_KEY``; a SQLite source
uses its own key (the variable, else its key file), so for a copy from SQLite with a key file
into PostgreSQL, set ``CONNECTOR_STATE_KEY`` to the key the target should use, and the
source's secrets are opened with its key file (``--source-key-file``, default beside it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from connector.cli.emitter_support import command, opened_store, out
from connector.emitter.guard import Guard
from connector.emitter.postgres_database import PostgresDatabase, is_postgres, redact
from connector.emitter.sealing import SecretBox
from connector.emitter.sql_store import SQLStore
from connector.emitter.store_sqlite import SQLiteStore
from connector.emitter.transfer import copy_store
from connector.errors import ConfigurationError

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``store migrate`` and ``store copy``."""
    parser = subparsers.add_parser(
        "store", help="the emitter's state store: schema migrations, copies (SQLite to PostgreSQL)"
    )
    commands = parser.add_subparsers(dest="store_command", metavar="COMMAND")
    commands.required = True
    migrate = commands.add_parser("migrate", help="apply the schema migrations the store lacks")
    migrate.set_defaults(func=store_migrate)
    copy = commands.add_parser(
        "copy", help="copy a store (subscriptions, snapshots, events, deliveries) into an empty one"
    )
    copy.add_argument("source", help="the store to copy: a SQLite path or a postgresql:// DSN")
    copy.add_argument("target", help="the empty store to fill (e.g. postgresql://host/db)")
    copy.add_argument(
        "--source-key-file",
        metavar="PATH",
        help="the SQLite source's key file (default: SOURCE.key when it exists)",
    )
    copy.set_defaults(func=store_copy)


@command
def store_migrate(args: argparse.Namespace) -> int:
    """Open the store (which applies what it lacks) and say which version it is at."""
    with opened_store(args, create=True) as store:
        version = _version(store)
        out({"location": store.location, "version": version, "migrated": True})  # type: ignore[attr-defined]
    return 0


def _version(store: object) -> int:
    if isinstance(store, SQLStore):
        rows = store.db.read(
            "SELECT version FROM connector_schema"
            if is_postgres(store.location)
            else "PRAGMA user_version"
        )
        return int(rows[0][0])
    return 0


@command
def store_copy(args: argparse.Namespace) -> int:
    """Copy SOURCE into the empty TARGET in one transaction."""
    guard = Guard(allow_private=True)  # the URLs were checked when they were added
    if not is_postgres(args.source) and not os.path.exists(args.source):
        raise ConfigurationError(f"no store at {args.source}", setting="SOURCE")
    source = _open(args.source, guard, args.source_key_file)
    try:
        with _open(args.target, guard, None) as target:
            counts = copy_store(source, target)
    finally:
        source.close()
    where = redact(args.target) if is_postgres(args.target) else args.target
    out({"copied": counts, "from": args.source, "to": where})
    return 0


def _open(location: str, guard: Guard, key_path: str | None) -> SQLStore:
    """A SQLite source keeps its own key (its key file) whatever CONNECTOR_STATE_KEY says,
    which is then the target's."""
    if is_postgres(location):
        return SQLStore(PostgresDatabase(location), guard=guard)
    key_file = Path(key_path or location + ".key")
    if key_path or key_file.exists():
        try:
            box = SecretBox(key_file.read_bytes().strip())
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the source key file {key_file}: {exc.strerror}",
                setting="--source-key-file",
            ) from None
        return SQLiteStore(location, guard=guard, box=box)
    return SQLiteStore(location, guard=guard)
