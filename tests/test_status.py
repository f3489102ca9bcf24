"""`connector status`: delivery health per subscription, and a --check for monitoring."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from connector.cli import main
from connector.emitter.guard import Guard
from connector.emitter.store import Attempt, build_event
from connector.emitter.store_sqlite import SQLiteStore


def _event(n: int, created_at: float) -> object:
    return build_event(
        "files.created",
        resource="files",
        record_id=f"file_{n}",
        marker="created",
        data={"id": f"file_{n}"},
        timestamp=created_at,
        path="/webhooks/claude-api/files.created",
        created_at=created_at,
    )


def _report(
    capsys: pytest.CaptureFixture[str], state: Path, *extra: str
) -> tuple[int, list[dict[str, object]]]:
    code = main(["--state", str(state), "status", *extra])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines


def test_status_counts_deliveries_and_check_passes_when_healthy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = tmp_path / "s.db"
    now = time.time()
    with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
        sub = store.add_subscription("http://127.0.0.1:9/hook")
        store.commit_poll(
            "files", {}, [], [_event(i, now) for i in range(3)], baseline=True, now=now
        )
        (lease,) = store.lease_due(now + 1, 1, "w", 30)
        store.complete(lease, Attempt(now, 200, 1.0, None, b""))
    code, lines = _report(capsys, state, "--check")
    assert code == 0
    first, totals = lines
    assert (first["id"], first["pending"], first["delivered"], first["failed"]) == (sub.id, 2, 1, 0)
    assert totals["healthy"] is True and totals["pending"] == 2


def test_status_check_fails_on_dead_letters_disabled_and_old_waits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = tmp_path / "s.db"
    now = time.time()
    with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
        dead = store.add_subscription("http://127.0.0.1:9/dead")
        off = store.add_subscription("http://127.0.0.1:9/off", events=["models.*"])
        store.commit_poll("files", {}, [], [_event(1, now - 7200)], baseline=True, now=now)
        (lease,) = store.lease_due(now + 1, 1, "w", 30)
        store.fail(lease, Attempt(now, 500, 1.0, "HTTP 500", b""))
        store.disable_subscription(off.id, "answered 410 Gone")
        store.commit_poll("files", {}, [], [_event(2, now - 7200)], baseline=True, now=now)
    code, lines = _report(capsys, state)
    assert code == 0  # a report, not a check
    code, lines = _report(capsys, state, "--check", "--max-wait", "3600")
    assert code == 1
    problems = " ".join(map(str, lines[-1]["problems"]))  # type: ignore[call-overload]
    assert dead.id in problems and "dead letter" in problems
    assert off.id in problems and "disabled" in problems and "410" in problems
    assert "waiting" in problems
