"""``connector tokens`` and ``connector serve`` as real processes: a token is printed once and
stored only as a hash; SIGTERM lets an in-flight call finish; no secret reaches the log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from platform_support import CANARY_KEY

from connector.cli import main
from connector.platform.registry import hash_token
from connector.sandbox.app import create_app
from connector.sandbox.faults import FaultPlan, FaultRule
from connector.sandbox.server import SandboxServer

WRONG_KEY = "sk-wrong-canary-93be10c4"
HOOK_SECRET = "whsec_Y2FuYXJ5LXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3"


def connector(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", "--state", str(state), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tokens_are_printed_once_and_stored_as_a_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "s.db")
    assert main(["--state", state, "tokens", "add", "ci"]) == 0
    added = capsys.readouterr()
    token = added.out.strip()
    assert token.startswith("cst_") and "will not be shown again" in added.err
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert token.encode() not in stored and hash_token(token).encode() in stored
    assert main(["--state", state, "tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert [json.loads(line)["name"] for line in listed.splitlines()] == ["ci"]
    assert token not in listed
    assert main(["--state", state, "tokens", "add", "ci"]) == 2  # names are unique
    assert main(["--state", state, "tokens", "remove", "ci"]) == 0
    assert main(["--state", state, "tokens", "remove", "ci"]) == 2
    assert main(["--state", state, "tokens", "add", "bad name"]) == 2


@pytest.mark.slow
def test_serve_finishes_in_flight_calls_on_sigterm_and_logs_no_secret(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    token = connector("tokens", "add", "ops", state=state).stdout.strip()
    plan = FaultPlan(rules=[FaultRule(route="/v1/messages", latency=1.0)])
    sandbox_app = create_app(api_key=CANARY_KEY, faults=plan)
    upstream_called = threading.Event()

    async def noticing(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/messages":
            upstream_called.set()
        await sandbox_app(scope, receive, send)

    with SandboxServer(app=noticing) as api:  # type: ignore[arg-type]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector",
                "--state",
                str(state),
                "serve",
                "--port",
                "0",
                "--emit",
                "--emit-interval",
                "0.2",
                "--access-log",
                "--allow-private",
                "--allow-private-upstreams",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stderr is not None
            first = process.stderr.readline()
            assert "connector serve: http://127.0.0.1:" in first, first
            origin = first.split()[2]
            headers = {"authorization": f"Bearer {token}"}
            with httpx.Client(base_url=origin, headers=headers, timeout=30) as c:
                answers = []
                for name, key in (("good", CANARY_KEY), ("bad", WRONG_KEY)):
                    made = c.post(
                        "/v1/connections",
                        json={
                            "name": name,
                            "definition": "claude-api",
                            "base_url": api.base_url,
                            "credentials": {"type": "api_key", "api_key": key},
                        },
                    )
                    answers.append(made)
                good, bad = (a.json()["id"] for a in answers)
                answers.append(
                    c.post(
                        f"/v1/connections/{good}/subscriptions",
                        json={"url": "http://127.0.0.1:9/in", "secret": HOOK_SECRET},
                    )
                )
                answers.append(c.post(f"/v1/connections/{bad}/resources/models/operations/list"))
                assert answers[-1].status_code == 502
                answers.append(
                    c.post(
                        f"/v1/connections/{good}/resources/messages/operations/create",
                        json={"model": "m", "max_tokens": "x", "content": CANARY_KEY},
                    )
                )
                assert answers[-1].status_code == 422
                answers.append(
                    httpx.get(
                        origin + "/v1/connections",
                        headers={"authorization": f"Bearer {CANARY_KEY}"},
                    )
                )
                slow: list[httpx.Response] = []

                def call() -> None:
                    slow.append(
                        c.post(
                            f"/v1/connections/{good}/resources/messages/operations/create",
                            json={"model": "claude-sonnet-4-5", "max_tokens": 8, "content": "hi"},
                        )
                    )

                caller = threading.Thread(target=call)
                caller.start()
                # The service is waiting on the API (1 s away) when it is told to stop.
                assert upstream_called.wait(timeout=10), "the slow call never started"
                process.send_signal(signal.SIGTERM)
                caller.join(timeout=20)
            assert slow and slow[0].status_code == 200, slow
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert "connector serve: stopped" in err
    logs = first + out + err
    assert "POST /v1/connections" in logs  # the access log was on
    for secret in (CANARY_KEY, WRONG_KEY, HOOK_SECRET, token):
        assert secret not in logs
        assert all(secret not in a.text for a in answers)
