"""Data pulls (issue 15): incremental cursors, fan-out, outputs, against the sandbox and a fake."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pulls_fake import DEFINITION, Tickets, create_fake, later

from connector import Connector, load_definition
from connector.cli import main
from connector.errors import DefinitionError, InputError
from connector.pulls.outputs import write_records
from connector.pulls.pull import Pull
from connector.pulls.state import PullStateStore
from connector.sandbox import FaultPlan, FaultRule, ManualClock, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
BATCHES = str(ROOT / "definitions" / "claude-api.json")
KEY = "sk-pulls"


def _requests(n: int, prefix: str = "r") -> list[dict[str, Any]]:
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


@pytest.fixture
def tickets() -> Tickets:
    return Tickets()


@pytest.fixture
def fake(tickets: Tickets) -> Iterator[SandboxServer]:
    with SandboxServer(app=create_fake(tickets)) as server:
        yield server


def _ended_batches(
    server: SandboxServer, clock: ManualClock, count: int, *, at_minutes: int
) -> list[str]:
    """``count`` batches created one minute apart, ``at_minutes`` before now, already ended."""
    state = server.app.state.sandbox
    start = clock() - timedelta(minutes=at_minutes)
    return [
        state.add_batch(_requests(2, f"b{i}-"), created_at=start + timedelta(minutes=i)).id
        for i in range(count)
    ]


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _cli(
    capsys: pytest.CaptureFixture[str], server: SandboxServer, state: Path, *args: str
) -> tuple[int, str, str]:
    code = main(
        ["--base-url", server.base_url, "--api-key", KEY, "--state", str(state), "pull", *args]
    )
    out, err = capsys.readouterr()
    return code, out, err


class _PageCounter:
    def __init__(self) -> None:
        self.lists = 0

    def __call__(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/batches"):
            self.lists += 1


def test_incremental_pull_returns_exactly_the_new_batches_and_stops_at_the_old_ones(
    sandbox: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    old = _ended_batches(sandbox, clock, 30, at_minutes=120)
    store = PullStateStore(tmp_path / "state.db")
    counter = _PageCounter()
    http = httpx.Client(event_hooks={"request": [counter]})
    with Connector(BATCHES, base_url=sandbox.base_url, api_key=KEY, http_client=http) as api:
        first = Pull(api, "message_batches", params={"limit": 10}, incremental=True, store=store)
        assert sorted(r["id"] for r in first.records()) == sorted(old)  # type: ignore[index]
        first.commit()
        new = _ended_batches(sandbox, clock, 3, at_minutes=10)
        counter.lists = 0
        second = Pull(api, "message_batches", params={"limit": 10}, incremental=True, store=store)
        assert [r["id"] for r in second.records()] == list(reversed(new))  # type: ignore[index]
        second.commit()
        # Newest first: the first page holds the 3 new ones and the first old one, so the
        # pull stops there instead of reading the 4 pages of history.
        assert counter.lists == 1
        third = Pull(api, "message_batches", params={"limit": 10}, incremental=True, store=store)
        assert list(third.records()) == []
        full = Pull(api, "message_batches", incremental=True, store=store, full_refresh=True)
        assert len(list(full.records())) == 33
    http.close()


def test_since_parameter_lookback_and_dedupe_on_an_api_sorted_oldest_first(
    fake: SandboxServer, tickets: Tickets, tmp_path: Path
) -> None:
    tickets.add(5, at=later(0))
    tickets.add(5, at=later(10))
    store = PullStateStore(tmp_path / "state.db")
    definition = load_definition(DEFINITION)

    def pull() -> list[str]:
        with Connector(definition, base_url=fake.base_url) as api:
            run = Pull(api, "tickets", params={"limit": 4}, incremental=True, store=store)
            ids = [r["id"] for r in run.records()]  # type: ignore[index]
            run.commit()
            return ids

    assert len(pull()) == 10
    # Nothing new: the API is asked for records since cursor − 60 s; the five at the
    # boundary come back and are dropped by id.
    tickets.pages.clear()
    assert pull() == []
    assert tickets.pages["tickets"] == 2
    # A late arrival stamped 30 s before the stored cursor (inside the lookback), an update
    # and a brand-new ticket: each exactly once.
    late = tickets.add(1, at=later(10) - timedelta(seconds=30))
    tickets.touch("t000002", later(20), title="edited")
    fresh = tickets.add(1, at=later(25))
    assert sorted(pull()) == sorted([*late, "t000002", *fresh])
    assert pull() == []


def test_client_side_filter_when_the_api_has_no_since_parameter(
    fake: SandboxServer, tickets: Tickets, tmp_path: Path
) -> None:
    tickets.add(7, at=later(0))
    store = PullStateStore(tmp_path / "state.db")
    with Connector(load_definition(DEFINITION), base_url=fake.base_url) as api:
        first = Pull(api, "tickets", "scan", {"limit": 3}, incremental=True, store=store)
        assert len(list(first.records())) == 7
        first.commit()
        tickets.add(2, at=later(5))
        second = Pull(api, "tickets", "scan", {"limit": 3}, incremental=True, store=store)
        assert [r["id"] for r in second.records()] == ["t000008", "t000009"]  # type: ignore[index]


def test_kill_9_between_output_and_cursor_commit_re_pulls_without_losing(
    sandbox: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    state, out = tmp_path / "state.db", tmp_path / "batches.jsonl"
    _ended_batches(sandbox, clock, 5, at_minutes=60)
    command = [
        sys.executable, "-m", "connector", "--base-url", sandbox.base_url, "--api-key", KEY,
        "--state", str(state), "pull", "message_batches", "--incremental", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    assert len(_lines(out.read_text())) == 5
    new = _ended_batches(sandbox, clock, 4, at_minutes=10)
    # Hold the state store's write lock: the pull reads its checkpoint, writes its output,
    # then waits to commit. Killed there, it has written the new records but not the cursor.
    blocker = sqlite3.connect(state, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            out.exists() and len(_lines(out.read_text())) == 4
        ):
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            time.sleep(0.01)
        assert sorted(r["id"] for r in _lines(out.read_text())) == sorted(new)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == -signal.SIGKILL
    # The cursor was not committed: the next run writes the same new records again.
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    assert sorted(r["id"] for r in _lines(out.read_text())) == sorted(new)
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    assert _lines(out.read_text()) == []


def test_fan_out_over_50_parents_yields_every_child_once_with_bounded_concurrency(
    fake: SandboxServer, tickets: Tickets
) -> None:
    for n in range(50):
        tickets.add(1, at=later(n), comments=n % 8)  # up to 7 comments: 3 pages of 3
    tickets.add(1, at=later(60), comments=4, state="draft")  # refused by the child's where
    tickets.comment_delay = 0.005
    expected = sorted(
        (t["id"], c["id"])
        for t in tickets.tickets
        if t["state"] != "draft"
        for c in tickets.comments[t["id"]]
    )
    with Connector(load_definition(DEFINITION), base_url=fake.base_url) as api:
        children = list(
            api.iterate("tickets", params={"limit": 7}, with_="comments", concurrency=4)
        )
    got = sorted((c["ticket_id"], c["id"]) for c in children)  # type: ignore[index]
    assert got == expected and len(got) == 169
    assert set(children[0]) == {"ticket_id", "id", "body"}
    assert 1 < tickets.most_in_flight <= 4


def test_pull_with_results_yields_each_ended_batchs_results_through_retries(
    clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = FaultPlan(
        rules=[
            FaultRule(
                route="/v1/messages/batches/*/results",
                statuses=(529,),
                rate=1.0,
                # Two faults at most: even if one request meets both, its third attempt (the
                # default max_retries is 2) succeeds, whatever the order the 3 workers run in.
                limit=2,
                retry_after=0.001,
            )
        ]
    )
    with SandboxServer(clock=clock, batch_seconds=2, api_key=KEY, faults=faults) as server:
        ended = _ended_batches(server, clock, 6, at_minutes=60)
        running = server.app.state.sandbox.add_batch(_requests(3, "late-")).id
        state = tmp_path / "state.db"
        code, out, err = _cli(
            capsys,
            server,
            state,
            "message_batches",
            "--with",
            "results",
            "--incremental",
            "--concurrency",
            "3",
        )
        assert code == 0, err
        lines = _lines(out)
        assert sorted((r["batch_id"], r["custom_id"]) for r in lines) == sorted(
            (b, f"b{i}-{j}") for i, b in enumerate(ended) for j in range(2)
        )
        assert all(r["result"]["type"] == "succeeded" for r in lines)
        assert "12 results of message_batches" in err
        # The batch still processing had no results: it is held below the cursor, and
        # once it ends the next incremental pull brings exactly its results.
        clock.advance(3)
        code, out, err = _cli(
            capsys, server, state, "message_batches", "--with", "results", "--incremental"
        )
        assert code == 0, err
        assert sorted(r["custom_id"] for r in _lines(out)) == ["late-0", "late-1", "late-2"]
        assert {r["batch_id"] for r in _lines(out)} == {running}
        code, out, _ = _cli(
            capsys, server, state, "message_batches", "--with", "results", "--incremental"
        )
        assert out == ""


def test_outputs_csv_json_and_parquet_in_row_groups(
    sandbox: SandboxServer, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    ids = _ended_batches(sandbox, clock, 25, at_minutes=60)
    with Connector(BATCHES, base_url=sandbox.base_url, api_key=KEY) as api:
        pull = Pull(api, "message_batches", params={"limit": 7})
        target = tmp_path / "batches.parquet"
        assert (
            write_records(
                pull.records(), "parquet", str(target), columns=pull.columns(), row_group_size=10
            )
            == 25
        )
    parquet = pq.ParquetFile(target)
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    assert sorted(table.column("id").to_pylist()) == sorted(ids)
    assert str(table.schema.field("created_at").type).startswith("timestamp")
    assert json.loads(table.column("request_counts")[0].as_py())["succeeded"] == 2
    assert not list(tmp_path.glob(".*.part"))

    code, out, _ = _cli(
        capsys, sandbox, tmp_path / "s.db", "message_batches", "--output", "csv", "--max-items", "3"
    )
    assert code == 0
    assert out.splitlines()[0].startswith("id,processing_status,ended_at,created_at")
    assert len(out.splitlines()) == 4
    code, out, _ = _cli(
        capsys,
        sandbox,
        tmp_path / "s.db",
        "message_batches",
        "--output",
        "json",
        "--max-items",
        "2",
    )
    assert [r["id"] for r in json.loads(out)] == list(reversed(ids))[:2]


def test_csv_refuses_a_column_that_appears_late_instead_of_dropping_it(tmp_path: Path) -> None:
    records = [{"a": i} for i in range(1500)] + [{"a": 1, "b": 2}]
    with pytest.raises(InputError, match="record 1501 has a key 'b'"):
        write_records(iter(records), "csv", str(tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists() and not list(tmp_path.iterdir())


def test_pull_blocks_are_checked_at_load_with_their_location() -> None:
    broken = json.loads(json.dumps(DEFINITION))
    tickets = broken["resources"][0]
    tickets["operations"]["list"]["incremental"]["param"] = "since_when"
    tickets["children"][0]["operation"] = "lsit"
    tickets["children"].append({"name": "bad", "operation": "list", "params": {"x": "$[oops"}})
    with pytest.raises(DefinitionError) as caught:
        load_definition(broken)
    text = str(caught.value)
    assert "resources[0].operations.list.incremental.param" in text and "since_when" in text
    assert "resources[0].children[0].operation" in text and "comments has no such operation" in text
    assert "resources[0].children[1].params" in text


def test_cli_errors_say_what_to_fix(
    sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, sandbox, tmp_path / "s.db", "models", "--incremental")
    assert code == 2 and "declares no 'incremental' block" in err
    code, _, err = _cli(capsys, sandbox, tmp_path / "s.db", "message_batches", "--with", "comments")
    assert code == 2 and "no child 'comments' (known: results)" in err
    code, _, err = _cli(capsys, sandbox, tmp_path / "s.db", "models", "--output", "parquet")
    assert code == 2 and "give --out FILE" in err
    code, _, err = _cli(capsys, sandbox, tmp_path / "s.db", "models", "--to", "nosuchdb://x")
    assert code == 2 and "unknown dlt destination 'nosuchdb'" in err
    code, _, err = _cli(
        capsys, sandbox, tmp_path / "s.db", "message_batches", "--incremental", "--max-items", "3"
    )
    assert code == 2 and "cannot stop after N records without skipping" in err
    code, _, err = _cli(
        capsys, sandbox, tmp_path / "s.db", "models", "--to", "duckdb:///x.duckdb", "--out", "f"
    )
    assert code == 2 and "drop --out" in err


def test_a_damaged_checkpoint_is_reported_and_full_refresh_starts_again(
    sandbox: SandboxServer, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ended_batches(sandbox, clock, 2, at_minutes=30)
    state = tmp_path / "state.db"
    assert _cli(capsys, sandbox, state, "message_batches", "--incremental")[0] == 0
    db = sqlite3.connect(state)
    with db:
        db.execute("UPDATE pull_checkpoints SET checkpoint = '{not json'")
    db.close()
    code, _, err = _cli(capsys, sandbox, state, "message_batches", "--incremental")
    assert code == 2 and "checkpoint is damaged; --full-refresh starts again" in err
    code, out, _ = _cli(capsys, sandbox, state, "message_batches", "--full-refresh")
    assert code == 0 and len(_lines(out)) == 2
    code, out, _ = _cli(capsys, sandbox, state, "message_batches", "--incremental")
    assert code == 0 and out == ""


def test_a_pull_asks_for_the_largest_page_unless_the_limit_is_given(
    sandbox: SandboxServer, clock: ManualClock
) -> None:
    _ended_batches(sandbox, clock, 25, at_minutes=60)
    limits: list[str | None] = []

    def seen(request: httpx.Request) -> None:
        if request.url.path.endswith("/batches"):
            limits.append(request.url.params.get("limit"))

    http = httpx.Client(event_hooks={"request": [seen]})
    with Connector(BATCHES, base_url=sandbox.base_url, api_key=KEY, http_client=http) as api:
        assert len(list(Pull(api, "message_batches").records())) == 25
        assert limits == ["1000"]  # maxPageSize: one request instead of two at the default 20
        limits.clear()
        assert len(list(Pull(api, "message_batches", max_items=7).records())) == 7
        assert limits == ["7"]  # no more than asked for
        limits.clear()
        assert len(list(Pull(api, "message_batches", params={"limit": 10}).records())) == 25
        assert limits == ["10", "10", "10"]  # the user's page size wins
    http.close()
