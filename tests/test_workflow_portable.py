"""The portable seed variant: clean for Redocly's Arazzo rules, and the same run on connector and
on Redocly Respect (a real Arazzo runner) against the sandbox on a real socket."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from node_tools import NODE_DIR, node_bin

from connector.client import Connector
from connector.sandbox.clock import ManualClock
from connector.sandbox.server import SandboxServer
from connector.workflows import ConnectorExecutor, RunOptions, WorkflowRunner, load_document
from connector.workflows.portability import portability_warnings

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "definitions" / "workflows"
SEED = WORKFLOWS / "batch-process-and-retrieve-results.arazzo.yaml"
PORTABLE = WORKFLOWS / "batch-process-and-retrieve-results.portable.arazzo.yaml"
DEFINITION = ROOT / "definitions" / "claude-api.json"


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


def _lint(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [node_bin("redocly"), "lint", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    report["returncode"] = done.returncode
    return report


def test_redocly_lints_the_portable_variant_clean_and_refuses_the_seed() -> None:
    portable = _lint(PORTABLE)
    assert portable["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, portable
    assert portable["returncode"] == 0
    seed = _lint(SEED)
    # the seed's onSuccess retry is what other runners refuse (it must still run here as written)
    messages = sorted(p["message"] for p in seed["problems"])
    assert any("retryAfter" in m for m in messages), messages
    assert seed["returncode"] != 0


def test_validate_warns_about_the_seed_and_not_the_portable_variant() -> None:
    warnings = [str(w) for w in portability_warnings(load_document(SEED))]
    assert [w.split(":")[0] for w in warnings] == [
        "workflows[0].steps[1].onSuccess[0].type",
        "workflows[0].steps[1].onSuccess[0].criteria[0].condition",
        "workflows[0].steps[1].onSuccess[1].criteria[0].condition",
    ]
    assert portability_warnings(load_document(PORTABLE)) == []


class _Time:
    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.now, self.sleeps = clock, 0.0, list[float]()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.clock.advance(seconds)


def test_the_portable_variant_polls_like_the_seed_on_connector() -> None:
    clock = ManualClock()
    time = _Time(clock)
    with (
        SandboxServer(clock=clock, batch_seconds=90) as server,
        Connector(DEFINITION, base_url=server.base_url, api_key="sk-engine") as connector,
    ):
        runner = WorkflowRunner(
            load_document(PORTABLE),
            {"claudeApi": ConnectorExecutor(connector)},
            RunOptions(clock=time, sleep=time.sleep),
        )
        outputs = runner.run(inputs={"apiKey": "sk-ant", "requests": _requests(3)})
    assert time.sleeps == [30, 30, 30]  # as the seed: the batch ends 90 s after creation
    assert outputs["requestCounts"]["succeeded"] == 3
    assert sorted(r["custom_id"] for r in outputs["results"]) == ["req-0", "req-1", "req-2"]


def _outcome(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What must agree between runners: per request its result type and reply text."""
    return sorted(
        (r["custom_id"], r["result"]["type"], r["result"]["message"]["content"][0]["text"])
        for r in results
    )


@pytest.mark.slow
def test_respect_and_connector_run_the_portable_variant_the_same(tmp_path: Path) -> None:
    redocly = node_bin("redocly")
    # Respect takes no clock, so the batch really lasts 1.5 s and both runners wait 1 s
    # between polls (connector: --max-retry-after 1; Respect: the document's retryAfter).
    document = yaml.safe_load(PORTABLE.read_text(encoding="utf-8"))
    document["workflows"][0]["steps"][1]["onFailure"][0]["retryAfter"] = 1
    copy = WORKFLOWS / f".respect-{tmp_path.name}.arazzo.yaml"  # beside it: same relative url
    copy.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    requests = _requests(3)
    log = tmp_path / "respect.json"
    try:
        with SandboxServer(batch_seconds=1.5) as server:
            done = subprocess.run(
                [
                    redocly,
                    "respect",
                    str(copy),
                    "--input",
                    json.dumps({"apiKey": "sk-respect", "requests": requests}),
                    "--server",
                    f"claudeApi={server.base_url}/v1",
                    "--json-output",
                    str(log),
                    "--execution-timeout",
                    "30000",
                ],
                capture_output=True,
                text=True,
                timeout=45,
                cwd=NODE_DIR,
            )
            with Connector(DEFINITION, base_url=server.base_url, api_key="sk-engine") as api:
                runner = WorkflowRunner(
                    load_document(PORTABLE),
                    {"claudeApi": ConnectorExecutor(api)},
                    RunOptions(max_retry_after=1, deadline=30),
                )
                outputs = runner.run(inputs={"apiKey": "sk-connector", "requests": requests})
    finally:
        copy.unlink(missing_ok=True)
    assert done.returncode == 0, done.stdout[-3000:]
    report = json.loads(log.read_text(encoding="utf-8"))
    (workflow,) = next(iter(report["files"].values()))["executedWorkflows"]
    assert workflow["status"] == "success"
    steps = workflow["executedSteps"]
    names = [s["stepId"] for s in steps]
    # Respect polled until the batch ended (at least once more than the first poll)
    assert names[0] == "submitBatch" and names[-1] == "retrieveResults"
    assert set(names[1:-1]) == {"pollBatchStatus"} and len(names) >= 4
    assert [s["status"] for s in steps if s["stepId"] != "pollBatchStatus"] == ["success"] * 2
    assert steps[-2]["status"] == "success"
    assert steps[-2]["response"]["body"]["processing_status"] == "ended"
    respect_counts = steps[-2]["response"]["body"]["request_counts"]
    body = steps[-1]["response"]["body"]
    respect_results = [json.loads(line) for line in body.splitlines() if line.strip()]
    # the two runners agree on the outcome
    assert outputs["requestCounts"] == respect_counts
    assert _outcome(outputs["results"]) == _outcome(respect_results)
    assert len(respect_results) == 3


def test_workflow_validate_prints_the_warnings_with_locations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from connector.cli import main

    assert main(["workflow", "validate", str(SEED)]) == 0  # warnings do not fail validation
    err = capsys.readouterr().err
    assert "warning: workflows[0].steps[1].onSuccess[0].type: the specification allows" in err
    assert "3 portability warning(s)" in err
    assert main(["workflow", "validate", str(PORTABLE)]) == 0
    assert "warning" not in capsys.readouterr().err
