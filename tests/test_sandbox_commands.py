"""The seeds' curl examples run as written, and ``connector sandbox`` in a real process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.cli.sandbox import EXAMPLE_BATCH_ID, add_examples
from connector.sandbox import ManualClock, SandboxServer, create_app

CURL = shutil.which("curl")
SEED_HEADERS = ["-H", "anthropic-version: 2023-06-01", "-H", "x-api-key: your-api-key"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    app = create_app(clock=clock, batch_seconds=2)
    add_examples(app.state.sandbox)
    with SandboxServer(app) as running:
        yield running


def _send(method: str, url: str, out: Path | None = None) -> tuple[int, bytes]:
    """The seed's request: curl when installed (as the seeds write it), else httpx."""
    if CURL:
        command = [CURL, "-sS", "-X", method, url, *SEED_HEADERS, "-w", "%{http_code}"]
        command += ["--output", str(out)] if out else ["-o", "/dev/null"]
        done = subprocess.run(command, capture_output=True, check=True, timeout=30)
        return int(done.stdout.decode()[-3:]), out.read_bytes() if out else b""
    headers = dict(header.split(": ", 1) for header in SEED_HEADERS[1::2])
    response = httpx.request(method, url, headers=headers)
    if out:
        out.write_bytes(response.content)
    return response.status_code, response.content


def test_seed_000_results_example_streams_jsonl(
    server: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    clock.advance(2)
    url = (
        f"{server.base_url}/rest/anthropic-message-batches-api/1.0.0/messages/batches/"
        f"{EXAMPLE_BATCH_ID}/results"
    )
    status, body = _send("GET", url, tmp_path / "results.jsonl")
    assert status == 200
    lines = [json.loads(line) for line in body.decode().splitlines()]
    by_id = {line["custom_id"]: line["result"] for line in lines}
    assert set(by_id) == {"request-001", "request-002"}
    assert by_id["request-001"]["type"] == "succeeded"
    message = by_id["request-001"]["message"]
    assert message["content"] == [
        {"type": "text", "text": "The capital of France is Paris.", "citations": None}
    ]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] > 0


def test_seed_002_cancel_example_answers_canceling(server: SandboxServer, tmp_path: Path) -> None:
    url = (
        f"{server.base_url}/rest/anthropic-message-batches-api/1.0.0/messages/batches/"
        f"{EXAMPLE_BATCH_ID}/cancel"
    )
    status, body = _send("POST", url, tmp_path / "cancel.json")
    assert status == 200
    batch = json.loads(body)
    assert batch["id"] == EXAMPLE_BATCH_ID
    assert batch["type"] == "message_batch"
    assert batch["processing_status"] == "canceling"
    assert batch["cancel_initiated_at"] is not None
    assert sum(batch["request_counts"].values()) == 2


_RUN_CLI = """
import argparse, sys
from connector.cli.sandbox import add_commands
parser = argparse.ArgumentParser(prog="connector")
add_commands(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def test_command_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_CLI, "sandbox", "--port", "0", "--batch-seconds", "0.5"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert "sandbox listening on http://127.0.0.1:" in first
        base_url = first.split(" on ")[1].split()[0]
        hint = process.stderr.readline()
        assert hint.strip() == f"export ANTHROPIC_BASE_URL={base_url}"
        response = httpx.get(
            f"{base_url}/v1/messages/batches/{EXAMPLE_BATCH_ID}",
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
        assert response.json()["id"] == EXAMPLE_BATCH_ID
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "sandbox stopped" in process.stderr.read()
        assert process.stdout is not None
        assert process.stdout.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_command_refuses_a_busy_port() -> None:
    with SandboxServer() as busy:
        done = subprocess.run(
            [sys.executable, "-c", _RUN_CLI, "sandbox", "--port", str(busy.port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert "cannot listen" in done.stderr


def test_server_starts_fast_and_stops_cleanly() -> None:
    import time

    started = time.perf_counter()
    server = SandboxServer().start()
    startup = time.perf_counter() - started
    try:
        with httpx.Client(base_url=server.base_url) as client:
            assert client.get("/_sandbox/state").status_code == 200
    finally:
        server.stop()
    assert startup < 1.0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/_sandbox/state")


def test_server_answers_without_nagle_stalls() -> None:
    """Without TCP_NODELAY each answer waited ~40 ms for a delayed ACK (20 calls took 0.9 s)."""
    import time

    with SandboxServer() as server, httpx.Client(base_url=server.base_url) as client:
        client.get("/_sandbox/faults")
        started = time.perf_counter()
        for _ in range(20):
            client.get("/_sandbox/faults")
        assert time.perf_counter() - started < 0.5
