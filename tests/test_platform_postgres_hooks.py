"""Webhooks through the service on a PostgreSQL state: each connection's emitter store is a
schema of its own in the state's database, and two service replicas (real uvicorn servers on
127.0.0.1) share them, both running the emitters (``--emit``); deliveries verified by
``standardwebhooks`` and ``svix`` at a real receiver."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from emitter_support import Delivery, recording_receiver
from platform_support import CANARY_KEY, new_connection, running_service, sandbox
from postgres_support import PostgresServer
from test_platform_hooks import MODEL, wait_for

from connector.emitter.sealing import KEY_VARIABLE
from connector.emitter.signing import generate_secret
from connector.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow


@pytest.fixture
def dsn(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(KEY_VARIABLE, Fernet.generate_key().decode())
    yield postgres.database()


def _tables(dsn: str, schema: str, table: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as db:
        return db.execute(f'SELECT * FROM "{schema}".{table}').fetchall()


def test_two_replicas_share_per_connection_webhooks_in_postgresql(dsn: str) -> None:
    secret_a, secret_b = generate_secret(), generate_secret()
    received: list[Delivery] = []
    receiver = recording_receiver({"a": secret_a, "b": secret_b}, received)
    with (
        sandbox(batch_seconds=60, seed=1) as api_a,
        sandbox(batch_seconds=60, seed=2) as api_b,  # other ids than a's
        SandboxServer(app=receiver) as hooks,
        running_service(dsn, emit=True, emit_interval=0.1) as one,
        running_service(dsn, "two", emit=True, emit_interval=0.1) as two,
        one.client() as c1,
        two.client() as c2,
    ):
        a = new_connection(c1, api_a.base_url, name="tenant-a")
        b = new_connection(c2, api_b.base_url, name="tenant-b")
        base_a, base_b = f"/v1/connections/{a['id']}", f"/v1/connections/{b['id']}"

        # CRUD on one replica is what the other sees; the tenants' lists never mix.
        sub_a = c1.post(
            base_a + "/subscriptions",
            json={
                "url": f"{hooks.base_url}/a",
                "events": ["message_batches.*"],
                "secret": secret_a,
            },
        ).json()["id"]
        c2.post(
            base_b + "/subscriptions",
            json={
                "url": f"{hooks.base_url}/b",
                "events": ["message_batches.*"],
                "secret": secret_b,
            },
        )
        shown = c1.post(base_b + "/subscriptions", json={"url": "http://127.0.0.1:9/x"})
        assert shown.status_code == 201 and shown.json()["secret"].startswith("whsec_")
        extra = shown.json()["id"]
        assert [s["id"] for s in c2.get(base_a + "/subscriptions").json()["subscriptions"]] == [
            sub_a
        ]
        assert len(c1.get(base_b + "/subscriptions").json()["subscriptions"]) == 2
        assert c2.get(f"{base_a}/subscriptions/{extra}").status_code == 404  # b's, not a's
        rotated = c2.post(f"{base_b}/subscriptions/{extra}/rotate", json={}).json()
        assert rotated["secret"] != shown.json()["secret"]
        assert c1.post(f"{base_b}/subscriptions/{extra}/disable", json={}).json()["state"] == (
            "disabled"
        )
        assert c2.delete(f"{base_b}/subscriptions/{extra}").status_code == 204
        assert c1.get(f"{base_b}/subscriptions/{extra}").status_code == 404

        # Each tenant's batch ends at its own API; each is delivered once, to its own target.
        for runtime in (one.runtime, two.runtime):
            for conn in (a, b):
                store = runtime.hooks(conn["id"])
                wait_for(lambda s=store: s.load_snapshot("message_batches") is not None, "polls")
        create = {"custom_id": "x", "model": MODEL, "max_tokens": 8, "content": "x"}
        batch_a = c1.post(base_a + "/resources/message_batches/operations/create", json=create)
        batch_b = c2.post(base_b + "/resources/message_batches/operations/create", json=create)
        for api in (api_a, api_b):
            httpx.post(f"{api.base_url}/_sandbox/clock/advance", json={"seconds": 120})
        wait_for(lambda: len(received) == 2, "both ended webhooks")
        by_target = {d.target: d for d in received}
        assert batch_a.json()["id"].encode() in by_target["a"].body
        assert batch_b.json()["id"].encode() in by_target["b"].body
        assert batch_a.json()["id"] != batch_b.json()["id"]
        assert batch_a.json()["id"].encode() not in by_target["b"].body

        events_a = c2.get(base_a + "/events").json()["events"]
        assert [e["type"] for e in events_a] == ["message_batches.ended"]
        assert events_a[0]["id"] == by_target["a"].webhook_id
        events_b = c1.get(base_b + "/events").json()["events"]
        assert [e["id"] for e in events_b] == [by_target["b"].webhook_id]
        wait_for(
            lambda: c1.get(base_a + "/deliveries").json()["deliveries"][0]["status"] == "delivered",
            "the delivery to be recorded",
        )
        assert c2.get(base_a + "/health").json()["subscriptions"][0]["delivered"] == 1

        # Replay through the other replica: sent again, same id and body, to a only.
        replayed = c2.post(f"{base_a}/events/{events_a[0]['id']}/replay", json={})
        assert replayed.status_code == 202 and replayed.json()["queued"] == 1
        wait_for(lambda: len(received) == 3, "the replayed webhook")
        assert received[2].target == "a" and received[2].body == by_target["a"].body
        wait_for(
            lambda: all(
                d["status"] == "delivered"
                for d in c1.get(base_a + "/deliveries").json()["deliveries"]
            ),
            "the replay to be recorded",
        )
        assert len(received) == 3  # two emitting replicas, still one send per delivery

        # In the database: one schema per connection, nothing in the public schema's tables.
        schema_a, schema_b = (f"hooks_{conn['id']}" for conn in (a, b))
        assert [row[0] for row in _tables(dsn, schema_a, "subscriptions")] == [sub_a]
        assert len(_tables(dsn, schema_b, "subscriptions")) == 1
        assert _tables(dsn, "public", "subscriptions") == []
        assert _tables(dsn, "public", "events") == []
        for table in ("subscriptions", "events", "attempts"):
            for schema in (schema_a, schema_b, "public"):
                assert CANARY_KEY not in repr(_tables(dsn, schema, table))
        assert secret_a not in repr(_tables(dsn, schema_a, "subscriptions"))  # sealed

        # Deleting a connection drops its schema; the other tenant's stays and answers.
        assert c2.delete(base_a).status_code == 204
        with psycopg.connect(dsn) as db:
            schemas = [
                r[0]
                for r in db.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hooks_%'")
            ]
        assert schemas == [schema_b]
        assert c1.get(base_a + "/subscriptions").status_code == 404
        assert len(c1.get(base_b + "/subscriptions").json()["subscriptions"]) == 1
        assert c1.get("/readyz").status_code == 200 and c2.get("/readyz").status_code == 200


def test_a_schema_view_reaches_its_own_tables_only_and_leaves_no_search_path(dsn: str) -> None:
    from connector.emitter.guard import Guard
    from connector.emitter.postgres_database import PostgresDatabase
    from connector.emitter.sql_store import SQLStore
    from connector.errors import StoreError

    parent = PostgresDatabase(dsn, pool_size=1)  # one connection: the views reuse it
    main = SQLStore(parent, guard=Guard(allow_private=True))
    try:
        main.add_subscription("http://127.0.0.1:9/main", [])
        first = SQLStore(parent.within("hooks_one"), guard=Guard(allow_private=True))
        second = SQLStore(parent.within("hooks_two"), guard=Guard(allow_private=True))
        assert first.list_subscriptions() == [] and second.list_subscriptions() == []
        first.add_subscription("http://127.0.0.1:9/one", [])
        assert [s.url for s in first.list_subscriptions()] == ["http://127.0.0.1:9/one"]
        assert second.list_subscriptions() == []
        # The pooled connection went back with the server's default search_path.
        assert [s.url for s in main.list_subscriptions()] == ["http://127.0.0.1:9/main"]
        assert parent.read("SHOW search_path") == [('"$user", public',)]
        assert first.db.channel != second.db.channel != parent.channel
        first.close()  # a view leaves the shared pool open
        assert len(main.list_subscriptions()) == 1
        assert parent.has_schema("hooks_one")
        parent.drop_schema("hooks_one")
        assert not parent.has_schema("hooks_one") and parent.has_schema("hooks_two")
        for bad in ("public; DROP TABLE subscriptions", "Hooks", "x" * 60):
            with pytest.raises(StoreError):
                parent.within(bad)
    finally:
        main.close()
