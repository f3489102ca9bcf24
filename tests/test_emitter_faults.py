"""Faults met by a long-running ``connector emit`` (a real subprocess) polling a real API and
delivering to a real receiver on 127.0.0.1: poison records among good ones, and a disk that
fills up and then has room again. Nothing may stop the emitter or lose an event."""

from __future__ import annotations

import json
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from emitter_support import DEFINITION, Delivery, recording_receiver
from hostile_api import POISON_FILES, file_json, hostile_api, poison_listing
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from connector.client import Connector
from connector.emitter.guard import Guard
from connector.emitter.signing import generate_secret
from connector.emitter.store import event_id
from connector.emitter.store_sqlite import SQLiteStore
from connector.sandbox import SandboxServer


def _emit(base_url: str, state: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "connector", "--base-url", base_url, "--api-key", "k"]
    command += ["--state", str(state), "emit", "--allow-private", "--interval", "0.2", *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Stderr:
    """Collects a process's stderr in a thread, so its pipe never fills."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        self.stream = process.stderr
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.stream:
            self.lines.append(line.decode("utf-8", "replace"))

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def close(self) -> None:
        self._thread.join(timeout=10)
        self.stream.close()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _baseline_taken(state: Path, resource: str) -> bool:
    """Whether the first poll of ``resource`` committed (after it, new records fire)."""
    with sqlite3.connect(state) as raw:
        rows = raw.execute("SELECT 1 FROM baselines WHERE resource = ?", (resource,)).fetchall()
    raw.close()
    return bool(rows)


def _stop(process: subprocess.Popen[bytes], errors: Stderr) -> int:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    errors.close()
    return code


@pytest.mark.slow
def test_poison_records_are_sent_valid_or_quarantined_and_emit_keeps_running(
    tmp_path: Path,
) -> None:
    secret = generate_secret()
    received: list[Delivery] = []
    listed = poison_listing()
    state = tmp_path / "state.db"
    with (
        SandboxServer(app=hostile_api(lambda: listed)) as api,
        SandboxServer(app=recording_receiver({"a": secret}, received)) as receiver,
    ):
        with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
            store.add_subscription(f"{receiver.base_url}/a", ["files.*"], secret)
        process = _emit(api.base_url, state, "--backfill", "--resource", "files")
        errors = Stderr(process)
        sent = {i for i, _, fate in POISON_FILES if fate == "sent"}
        ids = lambda: {json.loads(d.body)["data"]["id"] for d in received}  # noqa: E731
        _wait_for(lambda: ids() >= sent, "every good record's event")
        # Still polling: a record added now is picked up by the same process.
        listed.append(file_json("file_later", '"later.txt"'))
        _wait_for(lambda: "file_later" in ids(), "an event after the poison records")
        assert process.poll() is None
        assert _stop(process, errors) == 0
        status = subprocess.run(
            [sys.executable, "-m", "connector", "--state", str(state), "status", "--check"],
            capture_output=True,
            timeout=60,
        )
    assert "Traceback" not in errors.text
    assert errors.text.count("ALERT files record") == 2  # once per poison record
    # Every body is valid UTF-8 JSON, verified by standardwebhooks and svix on receipt.
    bodies = {
        json.loads(d.body)["data"]["id"]: json.loads(d.body.decode("utf-8")) for d in received
    }
    names = {i: b["data"]["file_name"] for i, b in bodies.items()}
    assert names["file_surrogate"] == "\ud800.txt"
    assert names["file_bigint"] == "1" * 5000
    assert names["file_huge"] == "x" * 2_000_000 and names["file_nanlike"] == "NaN"
    depth, value = 0, names["file_deep"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == 299  # the innermost list is empty
    assert set(bodies) == sent | {"file_later"}
    # The poison records are listed by status, and --check says something needs attention.
    assert status.returncode == 1
    lines = [json.loads(line) for line in status.stdout.splitlines()]
    quarantined = {
        q["quarantined"]["record_id"] for q in lines if isinstance(q.get("quarantined"), dict)
    }
    assert quarantined == {"file_infinite", "file_\\udc00"}


class FillingDisk:
    """An ASGI wrapper around the receiver: once armed, the next delivery it receives fills
    the emitter's disk (RLIMIT_FSIZE 0: no file it writes may grow) before it is answered, so
    the emitter has sent the webhook and then cannot record it."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.pid: int | None = None
        self.armed = False
        self.limit = resource.getrlimit(resource.RLIMIT_FSIZE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.armed and self.pid is not None:
            self.armed = False
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (0, self.limit[1]))
        await self.app(scope, receive, send)

    def make_room(self) -> None:
        assert self.pid is not None
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, self.limit)


@pytest.mark.slow
def test_a_full_disk_is_reported_waited_out_and_nothing_is_lost(tmp_path: Path) -> None:
    secret = generate_secret()
    received: list[Delivery] = []
    state = tmp_path / "state.db"
    disk = FillingDisk(recording_receiver({"a": secret}, received))
    with (
        SandboxServer() as sandbox,
        SandboxServer(app=disk) as receiver,  # type: ignore[arg-type]
        Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api,
    ):
        with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
            store.add_subscription(f"{receiver.base_url}/a", ["files.*"], secret)
        process = _emit(sandbox.base_url, state, "--resource", "files")
        disk.pid = process.pid
        errors = Stderr(process)
        _wait_for(lambda: _baseline_taken(state, "files"), "the first poll's baseline")

        def upload(name: str) -> str:
            path = tmp_path / name
            path.write_text(name)
            return str(api.call("files", "upload", {"file": str(path)}, raw=True)["id"])

        delivered = lambda: {d.webhook_id for d in received}  # noqa: E731
        first = upload("first.txt")
        _wait_for(lambda: event_id("files.created", first, "created") in delivered(), "an event")
        disk.armed = True  # the next delivery fills the disk
        during = [upload(f"during{n}.txt") for n in range(3)]
        _wait_for(lambda: "the state store failed" in errors.text, "the real cause")
        more = [upload(f"more{n}.txt") for n in range(3)]  # polls fail to commit meanwhile
        # Polls cannot renew their lease or commit meanwhile (nothing is advanced, so nothing
        # is missed); each says why.
        failed_polls = lambda: sum(  # noqa: E731
            errors.text.count(m) for m in ("committing files failed", "poll lease of files")
        )
        _wait_for(lambda: failed_polls() >= 2, "failed polls")
        assert process.poll() is None
        disk.make_room()
        after = upload("after.txt")
        wanted = {event_id("files.created", f, "created") for f in [*during, *more, after]}
        _wait_for(lambda: wanted <= delivered(), "every event once space returned", 60)
        _wait_for(lambda: "works again" in errors.text, "the recovery to be noted")
        assert process.poll() is None
        assert _stop(process, errors) == 0
    assert "Traceback" not in errors.text
    assert "cannot rollback" not in errors.text
    assert "disk I/O error" in errors.text  # what SQLite says when a write is refused
    with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
        assert wanted <= {i.event.id for i in store.list_events(limit=1000)}
        assert store.count_deliveries("failed") == 0
        # The delivery sent while the disk was full was recorded once room came back.
        assert store.count_deliveries("delivered") == len(wanted) + 1
