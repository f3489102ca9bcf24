"""The seed's workflow, as written, against the sandbox on a real socket with a manual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.client import Connector
from connector.errors import StepFailedError
from connector.sandbox.clock import ManualClock
from connector.sandbox.server import SandboxServer
from connector.workflows import ConnectorExecutor, RunOptions, WorkflowRunner, load_document

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml"
DEFINITION = ROOT / "definitions/claude-api.json"


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, batch_seconds=90) as running:
        yield running


def _requests(count: int) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"req-{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"say {i}"}],
            },
        }
        for i in range(count)
    ]


class Time:
    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.now = clock, 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.clock.advance(seconds)


def test_seed_workflow_runs_as_written(server: SandboxServer, clock: ManualClock) -> None:
    """Inputs apiKey and requests; outputs hold the id, the counts and one result per request."""
    time = Time(clock)
    with Connector(DEFINITION, base_url=server.base_url, api_key="sk-engine") as connector:
        runner = WorkflowRunner(
            load_document(SEED),
            {"claudeApi": ConnectorExecutor(connector)},
            RunOptions(clock=time, sleep=time.sleep),
        )
        outputs = runner.run(inputs={"apiKey": "sk-ant-workflow", "requests": _requests(5)})
    assert outputs["batchId"].startswith("msgbatch_")
    assert outputs["requestCounts"] == {
        "processing": 0,
        "succeeded": 5,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert outputs["resultsUrl"].endswith(f"/v1/messages/batches/{outputs['batchId']}/results")
    assert sorted(r["custom_id"] for r in outputs["results"]) == [f"req-{i}" for i in range(5)]
    assert time.sleeps == [30, 30, 30]  # the batch ends 90 s after creation: three polls wait


def test_seed_workflow_streams_results_to_a_file(
    server: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    time = Time(clock)
    out = tmp_path / "results.jsonl"
    with Connector(DEFINITION, base_url=server.base_url, api_key="sk-engine") as connector:
        options = RunOptions(clock=time, sleep=time.sleep, results_out=out)
        runner = WorkflowRunner(
            load_document(SEED), {"claudeApi": ConnectorExecutor(connector)}, options
        )
        outputs = runner.run(inputs={"apiKey": "k", "requests": _requests(50)})
    assert outputs["results"] == {"path": str(out), "count": 50}
    ids = {json.loads(line)["custom_id"] for line in out.read_text().splitlines()}
    assert ids == {f"req-{i}" for i in range(50)}


def test_seed_workflow_fails_on_a_rejected_batch(server: SandboxServer, clock: ManualClock) -> None:
    """A create the API refuses stops at submitBatch, naming the criterion and the status."""
    time = Time(clock)
    with Connector(DEFINITION, base_url=server.base_url, api_key="sk-engine") as connector:
        runner = WorkflowRunner(
            load_document(SEED),
            {"claudeApi": ConnectorExecutor(connector)},
            RunOptions(clock=time, sleep=time.sleep),
        )
        with pytest.raises(StepFailedError) as caught:
            runner.run(inputs={"apiKey": "k", "requests": [{"custom_id": "bad id!", "params": {}}]})
    assert (caught.value.step_id, caught.value.criterion) == ("submitBatch", "$statusCode == 200")
    assert caught.value.value == 400
