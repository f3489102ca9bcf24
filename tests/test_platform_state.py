"""Where the service keeps connections and tokens: in the state store's own schema, over
SQLite or PostgreSQL, through a real uvicorn on 127.0.0.1 in front of the sandbox."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from platform_support import CANARY_KEY, ServiceServer, new_connection, running_service, sandbox
from postgres_support import PostgresServer

from connector.cli import main
from connector.emitter.sealing import KEY_VARIABLE
from connector.emitter.sqlite_schema import MIGRATIONS
from connector.platform.registry import Registry
from connector.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def upstream() -> Iterator[SandboxServer]:
    with sandbox(batch_seconds=3600) as server:
        yield server


def _call(server: ServiceServer, connection: dict[str, object]) -> int:
    path = f"/v1/connections/{connection['id']}/resources/messages/operations/create"
    inputs = {"model": "claude-sonnet-4-5", "max_tokens": 8, "content": "hi"}
    with server.client() as client:
        answer = client.post(path, json=inputs)
    assert answer.status_code == 200, answer.text
    return int(answer.status_code)


def test_connections_and_tokens_are_tables_of_the_sqlite_state_store(
    tmp_path: Path, upstream: SandboxServer
) -> None:
    state = tmp_path / "state.db"
    with running_service(state) as server, server.client() as client:
        created = new_connection(client, upstream.base_url)
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        (sealed,) = db.execute("SELECT credentials FROM platform_connections").fetchone()
    assert CANARY_KEY not in sealed and CANARY_KEY.encode() not in state.read_bytes()
    with running_service(
        state, "again"
    ) as again:  # a restart finds the connection and calls with it
        assert _call(again, created) == 200


def test_a_state_file_made_before_the_migration_keeps_its_connections(
    tmp_path: Path, upstream: SandboxServer
) -> None:
    """The service used to create its tables itself (same schema) in a version-3 store:
    the migration that adds them must keep their rows."""
    state = tmp_path / "state.db"
    with running_service(state) as server, server.client() as client:
        created = new_connection(client, upstream.base_url)
    with sqlite3.connect(state) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    with running_service(state, "again") as again:
        with again.client() as client:
            listed = client.get("/v1/connections").json()
        assert [c["id"] for c in listed["connections"]] == [created["id"]]
        assert _call(again, created) == 200
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


@pytest.mark.slow
def test_the_service_keeps_connections_and_tokens_in_postgresql(
    postgres: PostgresServer,
    upstream: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = postgres.database()
    monkeypatch.setenv(KEY_VARIABLE, Fernet.generate_key().decode())
    monkeypatch.setenv("CONNECTOR_STATE", dsn)
    assert main(["tokens", "add", "ops"]) == 0
    printed = capsys.readouterr().out
    with running_service(dsn) as server, server.client() as client:
        created = new_connection(client, upstream.base_url)
        assert _call(server, created) == 200
        assert client.get("/readyz").status_code == 200
        # webhooks live in the same database (test_platform_postgres_hooks.py)
        hooks = client.get(f"/v1/connections/{created['id']}/subscriptions")
        assert hooks.status_code == 200 and hooks.json() == {"subscriptions": []}
    with running_service(dsn, "again") as again:
        assert _call(again, created) == 200
        token = next(word for word in printed.split() if word.startswith("cst_"))
        with again.client(token) as client:
            assert client.get("/v1/connections").status_code == 200
    with psycopg.connect(dsn) as db:
        rows = db.execute("SELECT name, credentials FROM platform_connections").fetchall()
        names = [r[0] for r in db.execute("SELECT name FROM platform_tokens ORDER BY name")]
    assert [r[0] for r in rows] == ["tenant-1"] and CANARY_KEY not in rows[0][1]
    assert names == ["again", "ops", "tests"]
    registry = Registry(dsn)
    try:
        assert [t.name for t in registry.list_tokens()] == ["again", "ops", "tests"]
    finally:
        registry.close()


def _in_another_process(state: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "connector", "--state", state, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _revocation_is_seen_at_the_next_request(state: str, upstream: SandboxServer) -> None:
    """The registry caches tokens and connections; changes made by another process are
    seen at the very next request (SQLite's data_version, PostgreSQL's revision trigger)."""
    with running_service(state) as server, server.client() as client:
        created = new_connection(client, upstream.base_url)
        other = _in_another_process(state, "tokens", "add", "other")
        with server.client(other) as second:
            for _ in range(3):  # cached after the first
                assert second.get(f"/v1/connections/{created['id']}").status_code == 200
            _in_another_process(state, "tokens", "remove", "other")
            assert second.get(f"/v1/connections/{created['id']}").status_code == 401
        assert _call(server, created) == 200  # the service's own token is untouched
        # A connection deleted elsewhere is gone at the next request too.
        script = (
            "import sys; from connector.platform.registry import Registry; "
            "r = Registry(sys.argv[1]); assert r.delete_connection(sys.argv[2]); r.close()"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, state, created["id"]], capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert client.get(f"/v1/connections/{created['id']}").status_code == 404
        # This registry's own writes are seen by itself at once.
        server.runtime.registry.remove_token("tests")
        assert client.get("/v1/connections").status_code == 401


def test_a_token_removed_by_another_process_is_refused_at_the_next_request_sqlite(
    tmp_path: Path, upstream: SandboxServer
) -> None:
    _revocation_is_seen_at_the_next_request(str(tmp_path / "state.db"), upstream)


@pytest.mark.slow
def test_a_token_removed_by_another_process_is_refused_at_the_next_request_postgresql(
    postgres: PostgresServer, upstream: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, Fernet.generate_key().decode())
    _revocation_is_seen_at_the_next_request(postgres.database(), upstream)
