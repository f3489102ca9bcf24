"""Every command that writes a file writes all or nothing: on failure the old file is untouched
and no empty or partial file is left behind (issue 8 item 13)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.cli import main
from connector.client import Connector
from connector.errors import InputError, TransportError
from connector.output_files import replacing
from connector.sandbox import FaultPlan, FaultRule, ManualClock, SandboxServer
from connector.workflows.batch import BatchLimits, run_batches

ROOT = Path(__file__).resolve().parent.parent

OLD = "precious old content\n"
MODEL = "claude-haiku-4-5"


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
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-files")
    monkeypatch.delenv("CONNECTOR_DEFINITION", raising=False)
    return server


def _keep(tmp_path: Path) -> Path:
    target = tmp_path / "keep.jsonl"
    target.write_text(OLD)
    return target


def _untouched(target: Path) -> None:
    assert target.read_text() == OLD
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def _batch(capsys: pytest.CaptureFixture[str]) -> str:
    code = main(
        [
            *("call", "message_batches", "create", "-p", "custom_id=a", "-p", f"model={MODEL}"),
            *("-p", "max_tokens=20", "-p", "content=hello"),
        ]
    )
    assert code == 0
    batch_id: str = json.loads(capsys.readouterr().out)["id"]
    return batch_id


def test_results_of_a_batch_in_progress_leave_the_old_file(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    target = _keep(tmp_path)
    code = main(["results", _batch(capsys), "--out", str(target)])
    assert code == 1
    _untouched(target)


def test_results_when_ended_replace_the_file(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    target = _keep(tmp_path)
    batch_id = _batch(capsys)
    clock.advance(11)
    assert main(["results", batch_id, "--out", str(target)]) == 0
    assert json.loads(target.read_text())["custom_id"] == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_files_download_of_a_missing_file_leaves_the_old_file(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    target = _keep(tmp_path)
    code = main(["call", "files", "download", "-p", "file_id=file_nope", "--out", str(target)])
    assert code == 1
    _untouched(target)


def test_a_failed_pull_leaves_the_old_file(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    target = _keep(tmp_path)
    code = main(["pull", "models", "-p", "limit=5000", "--out", str(target)])
    assert code == 1
    _untouched(target)


def test_out_in_a_missing_directory_is_an_input_error(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    code = main(["pull", "models", "--out", str(tmp_path / "no" / "such.jsonl")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--out" in err and "cannot write" in err
    assert "Traceback" not in err


def test_batch_results_that_fail_half_way_leave_the_old_file(
    server: SandboxServer, clock: ManualClock, tmp_path: Path
) -> None:
    target = _keep(tmp_path)
    message = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    requests = [{"custom_id": f"r{i}", "params": message} for i in range(4)]
    submitted: list[str] = []
    faults = server.app.state.faults

    def sleep(_: float) -> None:
        # Both batches end; the second one's results connection will drop, after the first
        # batch's lines have gone into the temporary file.
        clock.advance(11)
        route = f"/v1/messages/batches/{submitted[-1]}/results"
        faults.replace(FaultPlan(rules=[FaultRule(route=route, drop_rate=1.0)]))

    with Connector(
        ROOT / "definitions/claude-api.json", base_url=server.base_url, api_key="k", max_retries=0
    ) as api:
        try:
            # A drop mid-body is the engine's typed error (a StreamInterruptedError), not httpx's.
            with pytest.raises(TransportError):
                run_batches(
                    api,
                    requests,
                    out=target,
                    poll_interval=0.01,
                    limits=BatchLimits(max_requests=2),
                    sleep=sleep,
                    on_submit=submitted.append,
                )
        finally:
            faults.replace(FaultPlan())
    assert len(submitted) == 2
    _untouched(target)


def test_replacing_keeps_the_old_file_on_any_exception(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    with pytest.raises(KeyboardInterrupt), replacing(target, binary=True) as out:
        out.write(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    with replacing(target, binary=True) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_replacing_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"), replacing(tmp_path):
        pass
