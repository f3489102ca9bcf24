"""The command line: `workflow run`, `workflow validate`, `batch run`, with their exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.cli import main
from connector.cli.workflow import parse_inputs
from connector.errors import InputError
from connector.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml"
DEFINITION = ROOT / "definitions/claude-api.json"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    # Real time, but batches end 0.2 s after creation and waits are capped below.
    with SandboxServer(batch_seconds=0.2) as running:
        yield running


def _requests_file(tmp_path: Path, count: int, *, as_array: bool) -> Path:
    items = [
        {
            "custom_id": f"c{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
        }
        for i in range(count)
    ]
    path = tmp_path / ("requests.json" if as_array else "requests.jsonl")
    path.write_text(json.dumps(items) if as_array else "\n".join(json.dumps(i) for i in items))
    return path


def test_parse_inputs_reads_json_strings_and_files(tmp_path: Path) -> None:
    (tmp_path / "v.json").write_text('{"a": [1]}')
    values = parse_inputs(["n=3", "s=hello", 'q="3"', f"f=@{tmp_path / 'v.json'}", "e="])
    assert values == {"n": 3, "s": "hello", "q": "3", "f": {"a": [1]}, "e": ""}
    with pytest.raises(InputError):
        parse_inputs(["novalue"])
    with pytest.raises(InputError):
        parse_inputs([f"f=@{tmp_path / 'missing.json'}"])


def test_workflow_run_prints_the_outputs(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = _requests_file(tmp_path, 4, as_array=True)
    argv = [
        "--base-url",
        server.base_url,
        "workflow",
        "run",
        str(SEED),
        "--input",
        "apiKey=sk-ant-cli-secret",
        "--input",
        f"requests=@{requests}",
        "--max-retry-after",
        "0.05",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    outputs = json.loads(captured.out)
    assert outputs["requestCounts"]["succeeded"] == 4
    assert sorted(r["custom_id"] for r in outputs["results"]) == ["c0", "c1", "c2", "c3"]
    assert "sk-ant-cli-secret" not in captured.out + captured.err


def test_workflow_run_with_results_out_and_source(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = _requests_file(tmp_path, 3, as_array=True)
    out = tmp_path / "r.jsonl"
    argv = [
        "--base-url",
        server.base_url,
        "workflow",
        "run",
        str(SEED),
        "--input",
        "apiKey=k",
        "--input",
        f"requests=@{requests}",
        "--max-retry-after",
        "0.05",
        "--results-out",
        str(out),
        "--source",
        f"claudeApi={DEFINITION}",
    ]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["results"] == {"path": str(out), "count": 3}
    assert len(out.read_text().splitlines()) == 3


def test_workflow_run_exit_1_when_a_step_fails(
    server: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--base-url",
        server.base_url,
        "workflow",
        "run",
        str(SEED),
        "--input",
        "apiKey=sk-ant-hidden",
        "--input",
        'requests=[{"custom_id": "no good", "params": {}}]',
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "submitBatch" in err and "$statusCode == 200" in err and "sk-ant-hidden" not in err


@pytest.mark.parametrize(
    "extra",
    [
        ["--input", "requests=[]"],  # apiKey missing
        ["--input", "apiKey=k", "--input", "requests=notalist"],
        ["--input", "apiKey=k", "--input", "requests=[]", "--source", "nope=x.json"],
        ["--input", "apiKey=k", "--input", "requests=[]", "--workflow", "ghost"],
    ],
)
def test_workflow_run_exit_2_for_bad_inputs(
    server: SandboxServer, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--base-url", server.base_url, "workflow", "run", str(SEED), *extra])
    assert code == 2
    assert capsys.readouterr().out == ""


def test_workflow_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflow", "validate", str(SEED)]) == 0
    bad = tmp_path / "bad.arazzo.yaml"
    bad.write_text(
        SEED.read_text()
        .replace("retryLimit: 2880", "retryLimit: -1")
        .replace("operationId: retrieveMessageBatchResults", "operationId: retrieveResultz")
    )
    assert main(["workflow", "validate", str(bad)]) == 2
    assert "workflows[0].steps[1].onSuccess[0].retryLimit" in capsys.readouterr().err
    bad.write_text(
        SEED.read_text().replace(
            "operationId: retrieveMessageBatchResults", "operationId: retrieveResultz"
        )
    )
    assert main(["workflow", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "workflows[0].steps[2].operationId" in err and "retrieveMessageBatchResults" in err


def test_batch_run_waits_and_saves(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = _requests_file(tmp_path, 12, as_array=False)
    out = tmp_path / "out.jsonl"
    argv = [
        "--base-url",
        server.base_url,
        "--api-key",
        "k",
        "batch",
        "run",
        str(requests),
        "--out",
        str(out),
        "--poll-interval",
        "0.05",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"] == {"succeeded": 12}
    assert "requests done" in captured.err
    assert sorted(json.loads(line)["custom_id"] for line in out.read_text().splitlines()) == sorted(
        f"c{i}" for i in range(12)
    )
