"""``connector workflow generate``: the generated Arazzo validates (ours and Redocly's rules)
and runs against the sandbox on a real socket."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from node_tools import NODE_DIR, node_bin

from connector import load_definition
from connector.cli import main
from connector.client import Connector
from connector.errors import InputError
from connector.sandbox.clock import ManualClock
from connector.sandbox.server import SandboxServer
from connector.workflows import ConnectorExecutor, RunOptions, WorkflowRunner, load_document
from connector.workflows.generation import generate_workflow
from connector.workflows.portability import portability_warnings

ROOT = Path(__file__).resolve().parent.parent
DEFINITION_FILE = ROOT / "definitions" / "claude-api.json"
DEFINITION = load_definition(DEFINITION_FILE)
OPENAPI = "../../definitions/openapi/claude-messages-api.yml"


class _Time:
    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.now, self.sleeps = clock, 0.0, list[float]()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.clock.advance(seconds)


def _run(document: Any, definition: Any, inputs: dict[str, Any]) -> tuple[Any, list[float]]:
    clock = ManualClock()
    time = _Time(clock)
    with (
        SandboxServer(clock=clock, batch_seconds=60) as server,
        Connector(definition, base_url=server.base_url, api_key="sk-engine") as connector,
    ):
        runner = WorkflowRunner(
            load_document(document),
            {"claudeApi": ConnectorExecutor(connector)},
            RunOptions(clock=time, sleep=time.sleep),
        )
        return runner.run(inputs=inputs), time.sleeps


INPUTS = {
    "apiKey": "sk-ant",
    "custom_id": "one",
    "model": "claude-sonnet-4-5",
    "max_tokens": 16,
    "content": "say generated",
}


def test_the_batch_flow_is_generated_and_runs_against_the_sandbox() -> None:
    document = generate_workflow(DEFINITION, "message_batches")
    steps = document["workflows"][0]["steps"]
    assert [s["operationId"] for s in steps] == [
        "createMessageBatch",
        "retrieveMessageBatch",
        "retrieveMessageBatchResults",
    ]
    assert steps[1]["successCriteria"][1]["condition"] == '$[?@["processing_status"] == "ended"]'
    assert portability_warnings(load_document(document)) == []
    outputs, sleeps = _run(document, DEFINITION, INPUTS)
    assert sleeps == [30, 30]  # the batch ends 60 s after creation
    assert outputs["record"]["processing_status"] == "ended"
    (result,) = outputs["results"]
    assert result["custom_id"] == "one"
    assert result["result"]["type"] == "succeeded"
    assert "say generated" in result["result"]["message"]["content"][0]["text"]


def test_a_resource_without_a_transition_gets_create_then_read() -> None:
    data = json.loads(DEFINITION_FILE.read_text(encoding="utf-8"))
    batches = next(r for r in data["resources"] if r["handle"] == "message_batches")
    batches["webhooks"] = []  # no transition trigger: the plain flow
    definition = load_definition(data)
    document = generate_workflow(definition, "message_batches")
    steps = document["workflows"][0]["steps"]
    assert [s["stepId"] for s in steps] == ["create", "read"]
    outputs, sleeps = _run(document, definition, INPUTS)
    assert sleeps == []
    assert outputs["record"]["id"] == outputs["id"]
    assert outputs["record"]["processing_status"] == "in_progress"


def test_resources_it_cannot_describe_are_refused_with_the_reason() -> None:
    with pytest.raises(InputError, match="needs a create and a read operation"):
        generate_workflow(DEFINITION, "models")
    with pytest.raises(InputError, match="no JSON body template"):
        generate_workflow(DEFINITION, "skills")  # a multipart create
    with pytest.raises(InputError, match="unknown resource"):
        generate_workflow(DEFINITION, "batches")


def test_the_command_writes_yaml_that_redocly_lints_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "generated.arazzo.yaml"
    source = str(Path("..") / ".." / "definitions" / "openapi" / "claude-messages-api.yml")
    assert (
        main(["workflow", "generate", "message_batches", "--out", str(out), "--source-url", source])
        == 0
    )
    text = out.read_text(encoding="utf-8")
    assert "&id" not in text  # no YAML anchors
    assert yaml.safe_load(text) == generate_workflow(
        DEFINITION, "message_batches", source_url=source
    )
    assert main(["workflow", "validate", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    done = subprocess.run(
        [node_bin("redocly"), "lint", str(out), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
    )
    report = json.loads(done.stdout)
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, report
