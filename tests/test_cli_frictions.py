"""Issue 13's frictions, each through the CLI as a real subprocess against a sandbox on
127.0.0.1 (the output tests on a pseudo-terminal are in test_terminal.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector import Connector
from connector.errors import DefinitionError
from connector.sandbox import FaultPlan, FaultRule, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
SEED_FLOW = ROOT / "definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(batch_seconds=0.4) as running:
        yield running


def _env(server: SandboxServer | None, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "ANTHROPIC_"))}
    env |= {"CONNECTOR_STATE": str(tmp_path / "state.db"), "NO_COLOR": "1"}
    if server is not None:
        env |= {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "sk-test"}
    return env | extra


def _cli(env: dict[str, str], *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "connector", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=cwd,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# 1. the walk-through, run twice


def test_a_second_subscription_for_a_url_needs_replace(
    server: SandboxServer, tmp_path: Path
) -> None:
    env = _env(server, tmp_path)
    url = "http://127.0.0.1:9000"
    first = _cli(env, "subscriptions", "add", url, "--allow-private")
    assert first.returncode == 0
    old_id = json.loads(first.stdout)["id"]
    again = _cli(env, "subscriptions", "add", url + "/", "--allow-private")
    assert again.returncode == 2
    assert "already has a subscription" in again.stderr and "--replace" in again.stderr
    replaced = _cli(env, "subscriptions", "add", url, "--allow-private", "--replace")
    assert replaced.returncode == 0 and f"replaced {old_id}" in replaced.stderr
    listed = [json.loads(line) for line in _cli(env, "subscriptions", "list").stdout.splitlines()]
    assert [s["id"] for s in listed] == [json.loads(replaced.stdout)["id"]]


@pytest.mark.slow
def test_a_receiver_with_another_secret_shows_in_status_and_in_its_log(
    server: SandboxServer, tmp_path: Path
) -> None:
    env = _env(server, tmp_path)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    stale = json.loads(_cli(env, "subscriptions", "add", url, "--allow-private").stdout)
    assert _cli(env, "subscriptions", "add", url, "--allow-private", "--replace").returncode == 0
    receiver = subprocess.Popen(
        [sys.executable, "-m", "connector", "receive", "--port", str(port)],
        env=env | {"CONNECTOR_WEBHOOK_SECRET": stale["secret"]},  # the old subscription's
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert receiver.stderr is not None
        assert "listening" in receiver.stderr.readline()
        _wait_for_port(port)
        note = tmp_path / "note.txt"
        note.write_text("hello")
        assert _cli(env, "emit", "--once", "--allow-private").returncode == 0  # the baseline
        assert _cli(env, "call", "files", "upload", "-p", f"file=@{note}").returncode == 0
        emitted = _cli(env, "emit", "--once", "--allow-private")
        assert emitted.returncode == 1 and json.loads(emitted.stdout)["retrying"] == 1
        status = _cli(env, "status", "--check")
        assert status.returncode == 1
        totals = json.loads(status.stdout.splitlines()[-1])
        assert totals["healthy"] is False
        assert "rejects our signatures (HTTP 401)" in totals["problems"][0]
        assert json.loads(status.stdout.splitlines()[0])["last_status"] == 401
    finally:
        receiver.send_signal(signal.SIGINT)
        try:
            _, err = receiver.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            receiver.kill()
            _, err = receiver.communicate()
    assert "rejected POST /webhooks/claude-api/files.created" in err
    assert "401" in err and "signature" in err


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_the_readme_walkthrough_subscription_step_is_safe_to_run_twice(
    server: SandboxServer, tmp_path: Path
) -> None:
    env = _env(server, tmp_path)
    readme = (ROOT / "README.md").read_text()
    assert "subscriptions add http://127.0.0.1:9000 --allow-private --replace" in readme
    for _ in range(2):
        done = _cli(
            env, "subscriptions", "add", "http://127.0.0.1:9000", "--allow-private", "--replace"
        )
        assert done.returncode == 0 and json.loads(done.stdout)["secret"].startswith("whsec_")


# 2. silent waits


def test_batch_run_says_what_it_waits_for(server: SandboxServer, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    line = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    requests.write_text(
        "\n".join(json.dumps({"custom_id": f"r{i}", "params": line}) for i in range(3))
    )
    done = _cli(
        _env(server, tmp_path), "batch", "run", str(requests), "--poll-interval", "0.2",
        "--out", str(tmp_path / "results.jsonl"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "submitted msgbatch_" in done.stderr
    assert "requests done" in done.stderr and "next check in 0.2 s" in done.stderr
    assert json.loads(done.stdout)["results"] == {"succeeded": 3}


def test_a_retry_wait_longer_than_a_second_is_announced(
    server: SandboxServer, tmp_path: Path
) -> None:
    rule = FaultRule(route="/v1/models", statuses=(429,), rate=1.0, limit=1, retry_after=1.2)
    server.app.state.faults.replace(FaultPlan(rules=[rule]))
    try:
        done = _cli(_env(server, tmp_path), "call", "models", "list")
    finally:
        server.app.state.faults.replace(FaultPlan())
    assert done.returncode == 0
    assert "waiting 1.2 s: the API failed or was busy; retrying" in done.stderr


# 5. mistakes that explain themselves


def test_subscription_refusals_say_how_to_fix(tmp_path: Path) -> None:
    env = _env(None, tmp_path)
    plain = _cli(env, "subscriptions", "add", "http://127.0.0.1:9001")
    assert plain.returncode == 2 and "--allow-private" in plain.stderr and "443" in plain.stderr
    bare = _cli(env, "subscriptions", "add", "127.0.0.1:9001")
    assert bare.returncode == 2 and "has no scheme" in bare.stderr
    typo = _cli(
        env, "subscriptions", "add", "http://127.0.0.1:9001", "--allow-private",
        "--events", "message_batch.ended",
    )  # fmt: skip
    assert typo.returncode == 2
    assert "did you mean 'message_batches.ended'?" in typo.stderr


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("127.0.0.1:8080", "has no scheme; write http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/v1", "drop the trailing /v1"),
        ("ftp://127.0.0.1:8080", "must be http or https"),
    ],
)
def test_a_bad_base_url_is_a_configuration_error_without_retries(
    tmp_path: Path, base_url: str, says: str
) -> None:
    env = _env(None, tmp_path, ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY="k")
    started = time.monotonic()
    done = _cli(env, "call", "models", "list")
    assert done.returncode == 2 and says in done.stderr
    assert "attempt" not in done.stderr and time.monotonic() - started < 20


def test_emit_without_a_key_says_so_once(server: SandboxServer, tmp_path: Path) -> None:
    env = _env(server, tmp_path)
    del env["ANTHROPIC_API_KEY"]
    done = _cli(env, "emit", "--once", "--allow-private")
    assert done.returncode == 2
    assert done.stderr.count("no API key") == 1


def test_emit_with_no_subscriptions_says_how_to_add_one(
    server: SandboxServer, tmp_path: Path
) -> None:
    done = _cli(_env(server, tmp_path), "emit", "--once", "--allow-private")
    assert done.returncode == 0
    assert "no subscriptions yet" in done.stderr and "subscriptions add URL" in done.stderr


def test_at_file_uploads_the_file_as_curl_does(server: SandboxServer, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("hello")
    done = _cli(
        _env(server, tmp_path), "call", "files", "upload", "-p", "file=@note.txt", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    uploaded = json.loads(done.stdout)
    assert uploaded["filename"] == "note.txt" and uploaded["size_bytes"] == 5


def test_a_typo_in_an_operation_gets_did_you_mean(server: SandboxServer, tmp_path: Path) -> None:
    done = _cli(_env(server, tmp_path), "call", "models", "lst")
    assert done.returncode == 2 and "did you mean 'list'?" in done.stderr


def test_workflow_run_takes_the_api_key_from_the_environment(
    server: SandboxServer, tmp_path: Path
) -> None:
    line = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    requests = json.dumps([{"custom_id": "a", "params": line}])
    argv = (
        "workflow",
        "run",
        str(SEED_FLOW),
        "--input",
        f"requests={requests}",
        "--max-retry-after",
        "0.2",
    )
    done = _cli(_env(server, tmp_path), *argv)
    assert done.returncode == 0, done.stderr
    assert "input apiKey taken from ANTHROPIC_API_KEY" in done.stderr
    assert json.loads(done.stdout)["requestCounts"]["succeeded"] == 1
    env = _env(server, tmp_path)
    del env["ANTHROPIC_API_KEY"]
    missing = _cli(env, *argv)
    assert missing.returncode == 2 and "--input apiKey=VALUE" in missing.stderr


# 6. the Python API needs no boilerplate


def test_connector_without_a_definition_uses_the_bundled_one(server: SandboxServer) -> None:
    with Connector(base_url=server.base_url, api_key="k") as api:
        assert {m["id"] for m in api.call("models", "list")}


def test_a_missing_relative_definition_names_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DefinitionError, match=str(tmp_path / "defs" / "api.json")):
        Connector("defs/api.json")


# 7. payloads that carry data


@pytest.mark.slow
def test_files_created_events_carry_the_real_fields(server: SandboxServer, tmp_path: Path) -> None:
    env = _env(server, tmp_path)
    assert (
        _cli(env, "subscriptions", "add", "http://127.0.0.1:9", "--allow-private").returncode == 0
    )
    assert _cli(env, "emit", "--once", "--allow-private").returncode in (0, 1)
    (tmp_path / "report.csv").write_text("a,b\n1,2\n")
    assert (
        _cli(env, "call", "files", "upload", "-p", "file=@report.csv", cwd=tmp_path).returncode == 0
    )
    _cli(env, "emit", "--once", "--allow-private")
    events = [json.loads(line) for line in _cli(env, "events", "list").stdout.splitlines()]
    created = next(e for e in events if e["type"] == "files.created")
    data = created["body"]["data"]
    assert data["filename"] == "report.csv" and data["size_bytes"] == 8
    assert data["mime_type"] == "text/csv" and data["downloadable"] is True


# 8. one style of machine output


def test_json_is_one_compact_line_on_a_pipe_and_counts_read_naturally(
    server: SandboxServer, tmp_path: Path
) -> None:
    env = _env(server, tmp_path)
    read = _cli(env, "call", "models", "read", "-p", "model_id=claude-haiku-4-5")
    assert read.returncode == 0 and len(read.stdout.splitlines()) == 1
    assert json.loads(read.stdout)["id"].startswith("claude-haiku-4-5")
    pulled = _cli(env, "pull", "models")
    assert pulled.stderr.strip() == f"{len(pulled.stdout.splitlines())} models"
    one = _cli(env, "pull", "models", "--max-items", "1")
    assert one.stderr.strip() == "1 model"
