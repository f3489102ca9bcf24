"""Crash safety with real processes: ``kill -9`` the emitter (``python -m connector emit``) at
random points while it polls the sandbox and delivers to several subscribers, restart it each
time, and check that in the end every event reached every subscriber, none was lost, and any
duplicate carried the same ``webhook-id`` and the same body."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import anyio
import pytest
from emitter_support import DEFINITION, MODEL, Delivery, recording_receiver

from connector.client import Connector
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.signing import generate_secret
from connector.emitter.store import event_id
from connector.emitter.store_sqlite import SQLiteStore
from connector.sandbox import SandboxServer

KILLS = 50
TARGETS = ("a", "b", "c")


class Workload:
    """Changes the sandbox through the engine from a thread, remembering what it did."""

    def __init__(self, base_url: str, server: SandboxServer, folder: Path) -> None:
        self.api = Connector(DEFINITION, base_url=base_url, api_key="k", max_retries=5)
        self.server = server
        self.folder = folder
        self.batches: list[str] = []
        self.files: list[str] = []
        self.deleted: list[str] = []
        self.models: list[str] = []
        self.rng = random.Random(7)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._round = 0

    def step(self) -> None:
        self._round += 1
        batch = self.api.call(
            "message_batches",
            "create",
            {"custom_id": f"r{self._round}", "model": MODEL, "max_tokens": 8, "content": "hi"},
            raw=True,
        )
        self.batches.append(batch["id"])
        path = self.folder / f"f{self._round}.txt"
        path.write_text("x")
        self.files.append(self.api.call("files", "upload", {"file": str(path)}, raw=True)["id"])
        if self.rng.random() < 0.15 and len(self.files) > 40:
            victim = self.files[self.rng.randrange(len(self.files) - 20)]
            if victim not in self.deleted:
                self.api.call("files", "delete", {"file_id": victim}, raw=True)
                self.deleted.append(victim)
        if self._round % 10 == 0:
            model = f"claude-crash-{self._round}"
            self.server.app.state.sandbox.add_model(model)
            self.models.append(model)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.step()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.api.close()


def emitter_command(base_url: str, state: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "connector",
        "--base-url",
        base_url,
        "--api-key",
        "k",
        "--state",
        str(state),
        "emit",
        "--allow-private",
        *extra,
    ]


@pytest.mark.slow
def test_emitter_survives_kill_9_without_losing_or_changing_events(tmp_path: Path) -> None:
    secrets = {t: generate_secret() for t in TARGETS}
    received: list[Delivery] = []
    state = tmp_path / "state.db"
    log = (tmp_path / "emitter.log").open("ab")
    rng = random.Random(2024)
    with (
        SandboxServer(batch_seconds=0.3) as sandbox,
        SandboxServer(app=recording_receiver(secrets, received)) as receiver,
    ):
        with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
            for target in TARGETS:
                store.add_subscription(f"{receiver.base_url}/{target}", [], secrets[target])
        workload = Workload(sandbox.base_url, sandbox, tmp_path)
        for _ in range(45):  # history the baseline takes in silently
            workload.step()
        baseline_files = set(workload.files) - set(workload.deleted)
        deleted_before, models_before = len(workload.deleted), len(workload.models)
        subprocess.run(
            emitter_command(sandbox.base_url, state, "--once"),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=log,
            timeout=60,
        )
        seen_batches = len(workload.batches)
        workload.start()
        kills = 0
        for _ in range(KILLS):
            process = subprocess.Popen(
                emitter_command(sandbox.base_url, state, "--interval", "0.05"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            assert process.stderr is not None
            # Past the imports ("polling every ..." comes just before the first poll), so
            # that every kill lands somewhere in polling, committing or delivering.
            ready = b""
            while b"polling every" not in ready:  # lines logged before it are kept too
                line = process.stderr.readline()
                ready += line
                if not line:
                    break  # the process ended before it started polling: not counted
            time.sleep(rng.uniform(0.0, 0.4))
            process.kill()  # SIGKILL: no handler, no cleanup, like kill -9
            process.wait(timeout=10)
            log.write(ready + process.stderr.read())
            process.stderr.close()
            kills += int(b"polling every" in ready)
        workload.stop()
        time.sleep(0.5)  # every batch has ended
        # Long gaps between restarts may have made the mass-vanish guard hold deletions;
        # the final pass accepts them, as an operator would after checking the API.
        subprocess.run(
            emitter_command(sandbox.base_url, state, "--once", "--release-held"),
            stdout=subprocess.DEVNULL,
            stderr=log,
            timeout=60,
        )
        # Deliveries leased by a killed worker come back when their lease expires; the last
        # pass runs one lease ahead instead of waiting that out.
        with SQLiteStore(state, guard=Guard(allow_private=True)) as store:

            async def drain() -> None:
                offset = [0.0]
                ahead = Deliverer(
                    store, guard=Guard(allow_private=True), clock=lambda: time.time() + offset[0]
                )
                offset[0] = ahead.lease_seconds + 1
                async with ahead:
                    await ahead.drain()

            anyio.run(drain)
            events = {i.event.id: i for i in store.list_events(limit=100_000)}
            undelivered = [
                d for d in store.list_deliveries(limit=1_000_000) if d.status != "delivered"
            ]
    log.close()

    assert kills == KILLS
    assert undelivered == []
    # Nothing lost: every change made after the baseline has its event ...
    expected = {
        event_id("message_batches.ended", b, "to=ended") for b in workload.batches[seen_batches:]
    }
    expected |= {
        event_id("files.created", f, "created")
        for f in workload.files
        if f not in baseline_files and f not in workload.deleted
    }
    expected |= {event_id("models.created", m, "created") for m in workload.models[models_before:]}
    created_then_deleted = {
        f
        for f in workload.deleted[deleted_before:]
        if event_id("files.created", f, "created") in events or f in baseline_files
    }
    expected |= {event_id("files.deleted", f, "deleted") for f in created_then_deleted}
    names = {event_id(t, r, m): (t, r) for t, r, m in _identities(workload, seen_batches)}
    assert expected <= set(events), sorted(names.get(e) for e in expected - set(events))
    assert len(expected) > 300
    # ... one event per transition ...
    identities = [(i.event.type, i.event.record_id) for i in events.values()]
    assert len(identities) == len(set(identities))
    # ... and every event reached every subscriber; a duplicate is byte-identical.
    bodies: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    for delivery in received:
        bodies[(delivery.target, delivery.webhook_id)].add(delivery.body)
    for target in TARGETS:
        for eid, info in events.items():
            assert bodies[(target, eid)] == {info.event.body}, (target, eid)
    assert {json.loads(b)["type"] for b in {d.body for d in received}} >= {
        "message_batches.ended",
        "files.created",
        "files.deleted",
        "models.created",
    }
    assert len(received) >= len(events) * len(TARGETS)
    print(f"{kills} kills, {len(events)} events, {len(received)} deliveries received")


def _identities(workload: Workload, seen: int) -> list[tuple[str, str, str]]:
    found = [("message_batches.ended", b, "to=ended") for b in workload.batches[seen:]]
    found += [("files.created", f, "created") for f in workload.files]
    found += [("files.deleted", f, "deleted") for f in workload.files]
    found += [("models.created", m, "created") for m in workload.models]
    return found
