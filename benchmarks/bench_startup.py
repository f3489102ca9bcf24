"""Start-up: whole commands' wall time as a ratio to ``python -c pass`` (issue 11, item 1).

    python benchmarks/bench_startup.py [--quick]

Every variant is a fresh process; rounds are interleaved in rotating order. ``call`` runs
against a sandbox on 127.0.0.1 started once beforehand (its start is not measured).
Measured with bytecode caches, as an installed package runs (``PYTHONDONTWRITEBYTECODE`` is
removed for the commands; the warm-up run writes the caches).
``workflow run`` is compared with Jentic's arazzo-runner's whole process (``pip install
'.[bench]'``; a row says so when it is missing) on the same workflow and the same sandbox: the
seed's portable variant (``definitions/workflows/…portable.arazzo.yaml``) with its status
criteria only, because arazzo-runner 0.9 finds no match for the RFC 9535 filter
``$[?@.processing_status == 'ended']`` on an object and would stop at the poll. The sandbox
ends batches at once, so neither runner waits; both runs are checked to complete first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from harness import Figure, interleaved, ratios, render, wall_time

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"--help": 5.0, "describe": 10.0, "validate": 10.0, "call": 12.0}


def _connector() -> list[str]:
    script = Path(sys.executable).parent / "connector"
    return [str(script)] if script.exists() else [sys.executable, "-m", "connector"]


PORTABLE = (
    ROOT / "definitions" / "workflows" / "batch-process-and-retrieve-results.portable.arazzo.yaml"
)
OPENAPI = ROOT / "definitions" / "openapi" / "claude-messages-api.yml"
WORKFLOW_ID = "batch-process-and-retrieve-results"


def _arazzo_runner() -> list[str] | None:
    script = Path(sys.executable).parent / "arazzo-runner"
    return [str(script)] if script.exists() else None


def _workflow_copy(base_url: str, into: Path) -> Path:
    """The portable workflow with its status criteria only, and its OpenAPI description
    pointing at the sandbox (arazzo-runner takes the server from there)."""
    document: dict[str, Any] = yaml.safe_load(PORTABLE.read_text())
    for step in document["workflows"][0]["steps"]:
        step["successCriteria"] = [c for c in step["successCriteria"] if "type" not in c]
        step.pop("onFailure", None)
    (into / "workflows").mkdir()
    (into / "openapi").mkdir()
    spec = OPENAPI.read_text().replace("https://api.anthropic.com/v1", f"{base_url}/v1")
    (into / "openapi" / OPENAPI.name).write_text(spec)
    path = into / "workflows" / PORTABLE.name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _workflow_commands(cli: list[str], workflow: Path, env: dict[str, str]) -> dict[str, list[str]]:
    requests = [
        {
            "custom_id": f"req-{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"say {i}"}],
            },
        }
        for i in range(3)
    ]
    # arazzo-runner applies no input defaults: both get the same three inputs.
    inputs = {"apiKey": "sk-bench-not-a-secret", "anthropicVersion": "2023-06-01"}
    connector = [*cli, "workflow", "run", str(workflow)]
    for name, value in {**inputs, "requests": requests}.items():
        connector += ["--input", f"{name}={json.dumps(value)}"]
    commands = {"workflow run": connector}
    runner = _arazzo_runner()
    if runner is not None:
        commands["arazzo-runner"] = [
            *runner,
            "execute-workflow",
            str(workflow),
            "--workflow-id",
            WORKFLOW_ID,
            "--inputs",
            json.dumps({**inputs, "requests": requests}),
        ]
    for name, argv in commands.items():  # each must complete the workflow, or it is no measure
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        complete = (
            "status=workflow_complete" in done.stdout
            if name == "arazzo-runner"
            else done.returncode == 0 and '"results"' in done.stdout
        )
        if not complete:
            raise RuntimeError(f"{name} did not complete the workflow: {done.stderr[-2000:]}")
    return commands


def suite(quick: bool) -> list[Figure]:
    from connector.sandbox import SandboxServer

    rounds = 3 if quick else 9
    cli = _connector()
    with (
        SandboxServer(batch_seconds=0) as sandbox,
        tempfile.TemporaryDirectory(prefix="bench-startup-") as work,
    ):
        env = {
            **os.environ,
            "ANTHROPIC_BASE_URL": sandbox.base_url,
            "ANTHROPIC_API_KEY": "sk-bench-not-a-secret",
            "NO_COLOR": "1",
        }
        # An installed package runs from bytecode (pip compiles it on install); a development
        # shell that sets PYTHONDONTWRITEBYTECODE would make every start compile the sources.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        variants = {
            "python": wall_time([sys.executable, "-c", "pass"], env=env),
            "--help": wall_time([*cli, "--help"], env=env),
            "describe": wall_time([*cli, "describe", "message_batches"], env=env),
            "validate": wall_time(
                [*cli, "validate", str(ROOT / "definitions" / "claude-api.json")], env=env
            ),
            "call": wall_time([*cli, "call", "models", "list"], env=env),
        }
        workflow = _workflow_copy(sandbox.base_url, Path(work))
        commands = _workflow_commands(cli, workflow, env)
        variants.update({name: wall_time(argv, env=env) for name, argv in commands.items()})
        samples = interleaved(variants, rounds=rounds)
    if "arazzo-runner" in samples:
        workflow_figure = Figure(
            "startup",
            "connector workflow run / arazzo-runner (whole process, same workflow and sandbox)",
            ratios(samples, "workflow run", "arazzo-runner"),
            target=1.0,
        )
    else:
        workflow_figure = Figure(
            "startup",
            "connector workflow run / arazzo-runner",
            [],
            1.0,
            note="arazzo-runner not installed (pip install '.[bench]')",
        )
    figures = [
        Figure(
            "startup",
            f"connector {name} / python -c pass",
            ratios(samples, name, "python"),
            target=target,
        )
        for name, target in TARGETS.items()
    ]
    figures.append(
        Figure(
            "startup",
            "connector workflow run / python -c pass",
            ratios(samples, "workflow run", "python"),
        )
    )
    return [*figures, workflow_figure]


if __name__ == "__main__":
    render(suite("--quick" in sys.argv), title="start-up")
