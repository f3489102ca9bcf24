"""Pulls into DuckDB through dlt (issue 15 item 3): full, incremental, crashed-then-resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connector import Connector
from connector.dlt import run_pipeline, source
from connector.sandbox import ManualClock, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
BATCHES = str(ROOT / "definitions" / "claude-api.json")
KEY = "sk-dlt"


def _requests(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"{prefix}{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"say {i}"}],
            },
        }
        for i in range(n)
    ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, batch_seconds=2, api_key=KEY) as server:
        yield server


def _add_ended(
    server: SandboxServer, clock: ManualClock, count: int, minutes_ago: int, tag: str
) -> list[str]:
    state = server.app.state.sandbox
    start = clock() - timedelta(minutes=minutes_ago)
    return [
        state.add_batch(_requests(3, f"{tag}{i}-"), created_at=start + timedelta(minutes=i)).id
        for i in range(count)
    ]


def _rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as db:
        return db.execute(sql).fetchall()


def test_duckdb_holds_exactly_the_rows_after_a_full_then_an_incremental_run(
    sandbox: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    database = tmp_path / "pulls.duckdb"
    first = _add_ended(sandbox, clock, 8, 120, "a")
    running = sandbox.app.state.sandbox.add_batch(_requests(2, "run-")).id
    options: dict[str, Any] = {
        "with_": "results",
        "incremental": True,
        "pipelines_dir": str(tmp_path / "dlt"),
        "params": {"limit": 3},
    }
    with Connector(BATCHES, base_url=sandbox.base_url, api_key=KEY) as api:
        summary = run_pipeline(api, "message_batches", f"duckdb:///{database}", **options)
        assert "9 message_batches" in summary and "24 message_batches_results" in summary
        batches = _rows(
            database, "SELECT id, processing_status, _dlt_load_id FROM claude_api.message_batches"
        )
        assert sorted(b[0] for b in batches) == sorted([*first, running])
        (first_load,) = {b[2] for b in batches}
        results = _rows(
            database, "SELECT batch_id, custom_id FROM claude_api.message_batches_results"
        )
        assert sorted(results) == sorted(
            (b, f"a{i}-{j}") for i, b in enumerate(first) for j in range(3)
        )

        clock.advance(3)  # the running batch ends
        second = _add_ended(sandbox, clock, 2, 5, "b")
        run_pipeline(api, "message_batches", f"duckdb:///{database}", **options)
    batches = _rows(
        database, "SELECT id, processing_status, _dlt_load_id FROM claude_api.message_batches"
    )
    assert sorted(b[0] for b in batches) == sorted([*first, running, *second])  # no duplicates
    assert {b[1] for b in batches} == {"ended"}  # the running batch's row was merged, not added
    # Only the held batch and the new ones were read again: the old rows kept their load.
    assert {b[2] for b in batches if b[0] in first} == {first_load}
    results = _rows(database, "SELECT batch_id, custom_id FROM claude_api.message_batches_results")
    expected = [(b, f"a{i}-{j}") for i, b in enumerate(first) for j in range(3)]
    expected += [(running, f"run-{j}") for j in range(2)]
    expected += [(b, f"b{i}-{j}") for i, b in enumerate(second) for j in range(3)]
    assert sorted(results) == sorted(expected)


def test_the_source_declares_keys_merge_and_column_types() -> None:
    with Connector(BATCHES, base_url="http://127.0.0.1:9", api_key=KEY) as api:
        data = source(api, ["message_batches", "models"])
    batches = data.resources["message_batches"]
    assert batches.write_disposition == "merge"
    assert batches.compute_table_schema()["columns"]["id"]["primary_key"] is True
    assert batches.compute_table_schema()["columns"]["created_at"]["data_type"] == "timestamp"
    results = data.resources["message_batches_results"]
    columns = results.compute_table_schema()["columns"]
    assert columns["batch_id"]["primary_key"] and columns["custom_id"]["primary_key"]
    assert "models" in data.resources


@pytest.mark.slow
def test_a_kill_9_mid_load_is_finished_by_the_next_run_without_loss_or_duplicates(
    sandbox: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    database, pipelines = tmp_path / "pulls.duckdb", tmp_path / "dlt"
    first = _add_ended(sandbox, clock, 20, 120, "a")
    command = [
        sys.executable, "-m", "connector", "--base-url", sandbox.base_url, "--api-key", KEY,
        "pull", "message_batches", "--with", "results", "--incremental",
        "--to", f"duckdb:///{database}",
    ]  # fmt: skip
    env = {**os.environ, "DLT_DATA_DIR": str(pipelines)}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pending = pipelines / "pipelines" / "connector_message_batches" / "load" / "normalized"
    try:
        deadline = time.monotonic() + 60
        while not (pending.is_dir() and any(pending.iterdir())):
            assert process.poll() is None, "the pull ended before its load started"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)  # extracted and normalized, loading now
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert any(pending.iterdir()), "the load package should still be pending"
    second = _add_ended(sandbox, clock, 2, 5, "b")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    batches = _rows(database, "SELECT id FROM claude_api.message_batches")
    assert sorted(b[0] for b in batches) == sorted([*first, *second])
    results = _rows(database, "SELECT batch_id, custom_id FROM claude_api.message_batches_results")
    expected = [(b, f"a{i}-{j}") for i, b in enumerate(first) for j in range(3)]
    expected += [(b, f"b{i}-{j}") for i, b in enumerate(second) for j in range(3)]
    assert sorted(results) == sorted(expected)


def test_a_destination_failure_is_a_typed_error_without_the_credentials(
    sandbox: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from connector.cli import main
    from connector.pulls.dlt_source import _redact

    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    url = "postgres://loader:s3cret-pw@127.0.0.1:1/warehouse"
    code = main(["--base-url", sandbox.base_url, "--api-key", KEY, "pull", "models", "--to", url])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("connector: postgres: the dlt ")
    assert "s3cret-pw" not in err and "Traceback" not in err
    redacted = _redact(f"cannot connect to {url} (password s3cret-pw)", url)
    assert "s3cret-pw" not in redacted and "127.0.0.1:1/warehouse" in redacted
