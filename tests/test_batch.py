"""`batch run`: checking every line first, splitting over the limits, waiting, merging results."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from connector.client import Connector
from connector.errors import InputError
from connector.sandbox.clock import ManualClock
from connector.sandbox.server import SandboxServer
from connector.workflows.batch import (
    BatchCounts,
    BatchLimits,
    Progress,
    read_requests,
    run_batches,
    split_requests,
)

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "definitions/claude-api.json"


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, batch_seconds=60) as running:
        yield running


@pytest.fixture
def connector(server: SandboxServer) -> Iterator[Connector]:
    with Connector(DEFINITION, base_url=server.base_url, api_key="sk-test") as api:
        yield api


def _request(i: int) -> dict[str, Any]:
    return {
        "custom_id": f"req_{i}",
        "params": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": f"n {i}"}],
        },
    }


def _lines(count: int) -> list[str]:
    return [json.dumps(_request(i)) for i in range(count)]


def test_read_requests_lists_every_problem_with_line_numbers() -> None:
    lines = [
        json.dumps(_request(0)),
        "{not json",
        "",
        json.dumps({"custom_id": "bad id", "params": _request(1)["params"]}),
        json.dumps(_request(0)),
        json.dumps({"custom_id": "x", "params": {"model": "m", "max_tokens": 0, "messages": []}}),
        json.dumps({"custom_id": "y"}),
        json.dumps([1]),
    ]
    with pytest.raises(InputError) as caught:
        read_requests(lines)
    where = [p.parameter for p in caught.value.problems]
    assert where == [
        "line 2",
        "line 4: custom_id",
        "line 5: custom_id",
        "line 6: params.max_tokens",
        "line 6: params.messages",
        "line 7: params",
        "line 8",
    ]
    assert "repeats line 1" in caught.value.problems[2].message


def test_read_requests_refuses_an_empty_file() -> None:
    with pytest.raises(InputError):
        read_requests(["", "  "])


def test_split_requests_by_count_and_by_size() -> None:
    requests = [_request(i) for i in range(1000)]
    chunks = split_requests(requests, BatchLimits(max_requests=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    size = len(json.dumps(requests[0], separators=(",", ":"))) + 1
    by_size = split_requests(requests[:10], BatchLimits(max_bytes=20 + 3 * size))
    assert all(len(c) <= 3 for c in by_size) and sum(map(len, by_size)) == 10
    assert [r for c in by_size for r in c] == requests[:10]
    with pytest.raises(InputError):
        split_requests(requests[:1], BatchLimits(max_bytes=50))


def test_run_batches_a_thousand_requests_split_and_merged(
    connector: Connector, clock: ManualClock, tmp_path: Path
) -> None:
    """1,000 requests over a 300-request limit: four batches, one result line per custom_id."""
    out = tmp_path / "results.jsonl"
    stream = io.StringIO()
    outcome = run_batches(
        connector,
        read_requests(_lines(1000)),
        out=out,
        poll_interval=30,
        limits=BatchLimits(max_requests=300),
        progress=Progress(stream),
        sleep=clock.advance,
    )
    assert len(outcome.batch_ids) == 4
    ids = [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"req_{i}" for i in range(1000)) and len(set(ids)) == 1000
    assert outcome.result_types == {"succeeded": 1000}
    assert (
        stream.getvalue().splitlines()[-1].startswith("4/4 batches ended, 1000/1000 requests done")
    )


def test_run_batches_without_waiting_returns_the_ids(connector: Connector) -> None:
    outcome = run_batches(connector, [_request(1)], wait=False)
    assert len(outcome.batch_ids) == 1 and not outcome.finished
    assert (
        connector.call("message_batches", "read", {"batch_id": outcome.batch_ids[0]}, raw=True)[
            "processing_status"
        ]
        == "in_progress"
    )


@pytest.mark.parametrize("cancel", [True, False])
def test_run_batches_interrupted_asks_whether_to_cancel(connector: Connector, cancel: bool) -> None:
    asked: list[list[str]] = []

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    def answer(ids: list[str]) -> bool:
        asked.append(ids)
        return cancel

    with pytest.raises(KeyboardInterrupt):
        run_batches(connector, [_request(1)], sleep=interrupt, on_interrupt=answer)
    (ids,) = asked
    status = connector.call("message_batches", "read", {"batch_id": ids[0]}, raw=True)[
        "processing_status"
    ]
    assert status == ("canceling" if cancel else "in_progress")


def test_progress_lines_say_the_counts_and_the_next_check() -> None:
    stream = io.StringIO()
    batches = {
        "b": {
            "processing_status": "ended",
            "request_counts": {"processing": 0, "succeeded": 3, "errored": 1},
        }
    }
    Progress(stream).update(BatchCounts.of(batches, 4), None)
    Progress(stream).update(BatchCounts.of(batches, 5), 10.0)
    assert stream.getvalue().splitlines() == [
        "1/1 batch ended, 4/4 requests done (succeeded 3, errored 1, canceled 0, expired 0)",
        "1/1 batch ended, 5/5 requests done (succeeded 3, errored 1, canceled 0, expired 0)"
        "; next check in 10 s",
    ]


def test_batch_run_command_end_to_end(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join(_lines(20)) + "\n")
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "--base-url",
            server.base_url,
            "--api-key",
            "sk-x",
            "batch",
            "run",
            str(requests),
            "--out",
            str(out),
            "--no-wait",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests"] == 20 and len(summary["batch_ids"]) == 1


def test_batch_run_command_refuses_a_bad_file_before_sending(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps(_request(1)) + "\n{oops\n")
    code = main(["--base-url", server.base_url, "--api-key", "sk-x", "batch", "run", str(requests)])
    assert code == 2
    assert "line 2" in capsys.readouterr().err
