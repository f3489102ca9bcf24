"""Webhooks through the service: per-connection subscriptions (secret shown once), the emitter
running in the service process (``--emit``), the event and delivery log, replay, health and
AsyncAPI; deliveries verified by ``standardwebhooks`` and ``svix`` at a real receiver."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from emitter_support import Delivery, recording_receiver
from feed_fake import MAIL, Mailbox, mail_app
from platform_support import new_connection, running_service, sandbox, service_for

from connector.emitter.signing import generate_secret
from connector.sandbox.server import SandboxServer

MODEL = "claude-sonnet-4-5"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_subscriptions_crud_shows_a_secret_once(tmp_path: Path) -> None:
    with sandbox() as api, running_service(tmp_path / "s.db") as service, service.client() as c:
        conn = new_connection(c, api.base_url)
        other = new_connection(c, api.base_url, name="tenant-2")
        base = f"/v1/connections/{conn['id']}/subscriptions"
        added = c.post(base, json={"url": "http://127.0.0.1:9/in", "events": ["files.*"]})
        assert added.status_code == 201
        secret = added.json()["secret"]
        assert secret.startswith("whsec_")
        sub = added.json()["id"]
        listed = c.get(base).json()["subscriptions"]
        assert [s["id"] for s in listed] == [sub] and "secret" not in listed[0]
        assert c.get(f"/v1/connections/{other['id']}/subscriptions").json() == {"subscriptions": []}
        read = c.get(f"{base}/{sub}")
        assert read.json()["events"] == ["files.*"] and secret not in read.text
        rotated = c.post(f"{base}/{sub}/rotate", json={}).json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
        assert c.get(f"{base}/{sub}").json()["secrets"] == 2
        disabled = c.post(f"{base}/{sub}/disable", json={"reason": "maintenance"}).json()
        assert disabled["state"] == "disabled" and disabled["disabled_reason"] == "maintenance"
        assert c.post(f"{base}/{sub}/enable").json()["state"] == "active"
        given = c.post(base, json={"url": "http://127.0.0.1:9/b", "secret": generate_secret()})
        assert "secret" not in given.json()  # given by the caller: not echoed
        # a create made through the service is recorded as <handle>.created (write-through)
        message = c.post(
            f"/v1/connections/{conn['id']}/resources/messages/operations/create",
            json={"model": MODEL, "max_tokens": 8, "content": "hi"},
        ).json()
        events = c.get(f"/v1/connections/{conn['id']}/events").json()["events"]
        assert [(e["type"], e["record_id"]) for e in events] == [
            ("messages.created", message["id"])
        ]
        assert c.get(f"/v1/connections/{other['id']}/events").json() == {"events": []}
        assert c.delete(f"{base}/{sub}").status_code == 204
        assert c.get(f"{base}/{sub}").status_code == 404
        everything = c.get(f"/v1/connections/{conn['id']}/health").text + c.get(base).text
        assert secret not in everything and rotated["secret"] not in everything
        asyncapi = c.get("/v1/definitions/claude-api/asyncapi").json()
        assert asyncapi["asyncapi"].startswith("3.")
        assert any("ended" in name for name in asyncapi["channels"])


def test_the_emitter_runs_in_the_service_and_the_log_replays(tmp_path: Path) -> None:
    secret = generate_secret()
    received: list[Delivery] = []
    receiver = recording_receiver({"all": secret}, received)
    with (
        sandbox(batch_seconds=60) as api,
        SandboxServer(app=receiver) as hooks,
        running_service(tmp_path / "s.db", emit=True, emit_interval=0.1) as service,
        service.client() as c,
    ):
        conn = new_connection(c, api.base_url)
        base = f"/v1/connections/{conn['id']}"
        sub = c.post(
            base + "/subscriptions",
            json={
                "url": f"{hooks.base_url}/all",
                "events": ["message_batches.*"],
                "secret": secret,
            },
        ).json()["id"]
        store = service.runtime.hooks(conn["id"])
        wait_for(lambda: store.load_snapshot("message_batches") is not None, "the baseline poll")
        batch = c.post(
            base + "/resources/message_batches/operations/create",
            json={"custom_id": "a", "model": MODEL, "max_tokens": 8, "content": "x"},
        ).json()
        httpx.post(f"{api.base_url}/_sandbox/clock/advance", json={"seconds": 120})
        wait_for(lambda: len(received) == 1, "the ended webhook")
        assert received[0].path == "/webhooks/claude-api/message_batches.ended"
        assert batch["id"].encode() in received[0].body

        events = c.get(base + "/events").json()["events"]
        assert [e["type"] for e in events] == ["message_batches.ended"]
        event = events[0]["id"]
        assert received[0].webhook_id == event
        wait_for(
            lambda: c.get(base + "/deliveries").json()["deliveries"][0]["status"] == "delivered",
            "the delivery to be recorded",
        )
        log = c.get(base + "/deliveries", params={"subscription": sub}).json()["deliveries"]
        assert log[0]["log"][0]["status"] == 204
        health = c.get(base + "/health").json()
        assert health["subscriptions"][0]["delivered"] == 1 and health["totals"]["healthy"] is True

        replayed = c.post(f"{base}/events/{event}/replay", json={"subscription": sub})
        assert replayed.status_code == 202 and replayed.json()["queued"] == 1
        wait_for(lambda: len(received) == 2, "the replayed webhook")
        assert received[1].webhook_id == event and received[1].body == received[0].body
        assert c.post(f"{base}/events/replay-failed", json={}).json() == {"queued": 0}


def test_the_emitters_follow_connections_being_deleted_and_added(tmp_path: Path) -> None:
    with (
        sandbox() as api,
        running_service(tmp_path / "s.db", emit=True, emit_interval=0.05) as service,
        service.client() as c,
    ):
        first = new_connection(c, api.base_url)
        url = "http://127.0.0.1:9/in"
        c.post(f"/v1/connections/{first['id']}/subscriptions", json={"url": url})
        store = service.runtime.hooks(first["id"])
        wait_for(lambda: store.load_snapshot("models") is not None, "the first emitter")
        assert c.delete(f"/v1/connections/{first['id']}").status_code == 204
        assert not Path(service.runtime.hooks_location(first["id"])).exists()
        # The supervisor lives on: a new tenant's emitter starts, the service answers.
        second = new_connection(c, api.base_url, name="tenant-2")
        c.post(f"/v1/connections/{second['id']}/subscriptions", json={"url": url})
        other = service.runtime.hooks(second["id"])
        wait_for(lambda: other.load_snapshot("models") is not None, "the second emitter")
        changed = c.patch(f"/v1/connections/{second['id']}", json={"headers": {"x-tenant": "2"}})
        assert changed.status_code == 200
        assert c.get("/readyz").json()["status"] == "ready"
        assert c.get(f"/v1/connections/{second['id']}/health").status_code == 200


def test_the_health_route_shows_feed_triggers_as_connector_status_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector.cli import main

    box = Mailbox()
    secret = generate_secret()
    received: list[Delivery] = []
    definition: dict[str, Any] = {"handle": "mail", **copy.deepcopy(MAIL)}
    with (
        SandboxServer(app=recording_receiver({"all": secret}, received)) as hooks,
        service_for(
            tmp_path, definition, mail_app(box), allow_private=True, emit=True, emit_interval=0.05
        ) as (service, api),
        service.client() as c,
    ):
        made = c.post(
            "/v1/connections",
            json={"name": "inbox", "definition": "mail", "base_url": api.base_url},
        )
        assert made.status_code == 201, made.text
        base = f"/v1/connections/{made.json()['id']}"
        c.post(base + "/subscriptions", json={"url": f"{hooks.base_url}/all", "secret": secret})

        def feeds() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = c.get(base + "/health").json()["feeds"]
            return found

        wait_for(lambda: [f["cursor"] for f in feeds()] == ["100"], "the feed's baseline")
        box.deliver("through the service")
        wait_for(lambda: len(received) == 1, "the feed's event")
        assert json.loads(received[0].body)["data"]["subject"] == "through the service"
        box.answer = "nocursor"  # the next list answer is bad: the feed needs attention
        box.deliver("not listed yet")
        wait_for(lambda: feeds()[0]["problem"] is not None, "the feed's problem")
        health = c.get(base + "/health").json()
        location = service.runtime.hooks_location(made.json()["id"])
        code = main(["--state", location, "status", "--check"])
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (feed,) = health["feeds"]
    assert feed["resource"] == "messages" and feed["event"] == "messages.received"
    assert feed["cursor"] == "101" and "no cursor at ['cursor']" in feed["problem"]
    assert health["totals"]["healthy"] is False and health["totals"]["feeds"] == 1
    assert any("feed messages.received of messages" in p for p in health["totals"]["problems"])
    # the same data as `connector status` over the same store (and its exit code says so)
    assert code == 1

    def still(feeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in f.items() if k != "updated_at"} for f in feeds]  # polls go on

    assert still([line["feed"] for line in lines if "feed" in line]) == still(health["feeds"])
    assert lines[-1]["problems"] == health["totals"]["problems"]
