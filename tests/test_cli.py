"""The command line, end to end against a sandbox on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.cli import main
from connector.sandbox import ManualClock, SandboxServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, batch_seconds=10) as running:
        yield running


@pytest.fixture
def api_env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-cli")
    monkeypatch.delenv("CONNECTOR_DEFINITION", raising=False)
    return server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_describe_json_lists_placeholders_for_a_form(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "describe", "message_batches", "--json")
    assert code == 0
    (resource,) = json.loads(out)
    read = next(op for op in resource["operations"] if op["name"] == "read")
    assert read["placeholders"] == [
        {
            "name": "batch_id",
            "type": "String",
            "required": True,
            "description": "ID of the batch.",
            "aliases": ["message_batch_id"],
        }
    ]
    assert {w["event"] for w in resource["webhooks"]} == {
        "message_batches.ended",
        "message_batches.expired",
    }


def test_describe_unknown_handle_exits_2_and_names_the_nearest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "describe", "message_batch")
    assert code == 2
    assert "message_batches" in err


def test_validate_accepts_the_seed_and_refuses_a_bad_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "validate", str(ROOT / "definitions/seed/claude-api.seed.json"))
    assert code == 0 and "valid (5 resources" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"handle": "x", "endpoint": "/x", "operatons": {}}]))
    code, _, err = run(capsys, "validate", str(bad))
    assert code == 2
    assert str(bad) in err and "[0].operatons" in err and "'operations'" in err


def test_schema_is_json_schema_for_both_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "Resource" in schema["$defs"] and "Operation" in schema["$defs"]


def test_call_without_a_key_names_the_sandbox(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code, out, err = run(capsys, "call", "models", "list")
    assert code == 2 and out == ""
    assert "ANTHROPIC_API_KEY" in err and "connector sandbox" in err


def test_call_create_then_read_a_batch(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer
) -> None:
    code, out, _ = run(
        capsys,
        "call",
        "message_batches",
        "create",
        "-p",
        "custom_id=q1",
        "-p",
        "model=claude-haiku-4-5",
        "-p",
        "max_tokens=50",
        "-p",
        'content=Say "hi"\n',
    )
    assert code == 0
    created = json.loads(out)
    assert created["processing_status"] == "in_progress"
    code, out, _ = run(capsys, "call", "message_batches", "read", "-p", f"batch_id={created['id']}")
    assert code == 0
    assert json.loads(out)["id"] == created["id"]


def test_call_bad_input_lists_every_problem(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer
) -> None:
    code, out, err = run(
        capsys, "call", "messages", "create", "-p", "max_tokens=lots", "-p", "colour=red"
    )
    assert code == 2 and out == ""
    for name in ("max_tokens", "colour", "model", "content"):
        assert name in err


def test_call_unknown_batch_exits_1_with_the_request_id(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer
) -> None:
    code, _, err = run(capsys, "call", "message_batches", "read", "-p", "batch_id=msgbatch_nope")
    assert code == 1
    assert "404" in err and "not_found_error" in err and "req_" in err


def test_call_body_file_replaces_the_template(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    body = tmp_path / "batch.json"
    requests = [
        {
            "custom_id": f"r{i}",
            "params": {
                "model": "claude-haiku-4-5",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
            },
        }
        for i in range(3)
    ]
    body.write_text(json.dumps({"requests": requests}))
    code, out, _ = run(capsys, "call", "message_batches", "create", "--body", str(body), "--raw")
    assert code == 0
    assert json.loads(out)["request_counts"]["processing"] == 3


def test_pull_csv_and_max_items(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    out_file = tmp_path / "models.csv"
    code, _, err = run(
        capsys, "pull", "models", "--output", "csv", "--out", str(out_file), "-p", "limit=2"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert len(rows) >= 3 and set(rows[0]) == {"id", "display_name", "created_at"}
    assert f"{len(rows)} models" in err
    code, out, _ = run(capsys, "pull", "models", "--max-items", "2", "-p", "limit=1")
    assert code == 0 and len(out.splitlines()) == 2


def test_results_streams_the_jsonl_to_a_file(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "call",
        "message_batches",
        "create",
        "-p",
        "custom_id=only",
        "-p",
        "model=claude-haiku-4-5",
        "-p",
        "max_tokens=20",
        "-p",
        "content=What is the capital of France?",
    )
    batch_id = json.loads(out)["id"]
    clock.advance(11)
    target = tmp_path / "results.jsonl"
    code, _, err = run(capsys, "results", batch_id, "--out", str(target))
    assert code == 0 and "wrote" in err
    (line,) = [json.loads(x) for x in target.read_text().splitlines()]
    assert line["custom_id"] == "only" and line["result"]["type"] == "succeeded"


def test_console_script_call_read_exactly_as_documented(
    api_env: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`connector call message_batches read -p batch_id=...` works as a real process."""
    code, out, _ = run(
        capsys,
        "call",
        "message_batches",
        "create",
        "-p",
        "custom_id=proc",
        "-p",
        "model=claude-haiku-4-5",
        "-p",
        "max_tokens=5",
        "-p",
        "content=x",
    )
    assert code == 0
    batch_id = json.loads(out)["id"]
    env = {**os.environ, "ANTHROPIC_BASE_URL": api_env.base_url, "ANTHROPIC_API_KEY": "k"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector",
            "call",
            "message_batches",
            "read",
            "-p",
            f"batch_id={batch_id}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == batch_id
    assert "k" not in done.stderr.split()


def test_call_create_records_messages_created_where_a_store_exists(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    """messages cannot be listed, so a create through `connector call` is the event's source."""
    state = str(tmp_path / "state.db")
    code, _, _ = run(
        capsys,
        "--state",
        state,
        "subscriptions",
        "add",
        "https://hooks.example.com/in",
        "--events",
        "messages.*",
    )
    assert code == 0
    code, out, _ = run(
        capsys,
        "--state",
        state,
        "call",
        "messages",
        "create",
        "-p",
        "model=claude-haiku-4-5",
        "-p",
        "max_tokens=20",
        "-p",
        "content=What is the capital of France?",
    )
    assert code == 0
    message_id = json.loads(out)["id"]
    code, out, _ = run(capsys, "--state", state, "events", "list")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["messages.created"]
    assert message_id in json.dumps(events[0])


def test_call_without_a_store_leaves_no_state_file(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    state = tmp_path / "absent.db"
    code, _, _ = run(
        capsys,
        "--state",
        str(state),
        "call",
        "messages",
        "create",
        "-p",
        "model=claude-haiku-4-5",
        "-p",
        "max_tokens=5",
        "-p",
        "content=hi",
    )
    assert code == 0
    assert not state.exists()


def test_global_options_work_after_the_command(
    capsys: pytest.CaptureFixture[str], server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`connector call models list --base-url X --api-key K` works like the options given first."""
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code, out, err = run(
        capsys,
        "call",
        "models",
        "list",
        "--base-url",
        server.base_url,
        "--api-key",
        "k",
        "--output",
        "json",
    )
    assert code == 0, err
    assert any(model["id"].startswith("claude-") for model in json.loads(out))


def test_seed_definition_runs_with_configured_base_url_and_headers(
    capsys: pytest.CaptureFixture[str], server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bare seed has no service: base URL, key and the version header come from options."""
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("CONNECTOR_HEADERS", "anthropic-version: 2023-06-01")
    seed = str(ROOT / "definitions/seed/claude-api.seed.json")
    code, out, err = run(
        capsys,
        "--definition",
        seed,
        "--base-url",
        server.base_url + "/v1",
        "--api-key",
        "k",
        "call",
        "models",
        "read",
        "-p",
        "model_id=claude-haiku-4-5",
    )
    assert code == 0, err
    assert json.loads(out)["id"].startswith("claude-haiku-4-5")
    monkeypatch.delenv("CONNECTOR_HEADERS")
    code, _, err = run(
        capsys,
        "--definition",
        seed,
        "--base-url",
        server.base_url + "/v1",
        "--api-key",
        "k",
        "call",
        "models",
        "list",
        "--header",
        "anthropic-version: 2023-06-01",
    )
    assert code == 0, err
