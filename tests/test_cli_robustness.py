"""No input gives a traceback (issue 8 item 15): each hostile input is a typed, one-line error
with exit 2 (1 for upstream failures); an internal error names itself and points to --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.cli import describe as cli
from connector.cli import main
from connector.sandbox import FaultPlan, FaultRule, ManualClock, SandboxServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(), batch_seconds=1) as running:
        yield running


@pytest.fixture
def api_env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.delenv("CONNECTOR_DEFINITION", raising=False)
    monkeypatch.delenv("CONNECTOR_HEADERS", raising=False)
    monkeypatch.delenv("CONNECTOR_DEBUG", raising=False)
    return server


def _fails(capsys: pytest.CaptureFixture[str], code: int, *argv: str) -> str:
    assert main(list(argv)) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("connector: ")
    return captured.err


def test_deep_json_in_body_and_params_is_exit_2(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    assert "--body: nested too deeply" in _fails(
        capsys, 2, "call", "messages", "create", "--body", str(deep)
    )
    huge = tmp_path / "huge.json"
    huge.write_text('{"max_tokens": ' + "9" * 5000 + "}")
    assert "--body" in _fails(capsys, 2, "call", "messages", "create", "--body", str(huge))
    args = ("-p", "model=claude-haiku-4-5", "-p", "max_tokens=5", "-p", "content=hi")
    _fails(capsys, 2, "call", "messages", "create", *args, "-p", "messages=" + "[" * 50_000)


def test_a_10_mb_path_value_is_exit_2(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    big.write_text("a" * 10_000_000)
    err = _fails(capsys, 2, "call", "models", "read", "-p", f"model_id=@{big}")
    assert len(err.splitlines()) <= 3 and "URL too long" in err


@pytest.mark.parametrize("header", ["ñame: x", "x: ñ", "x y: z", "x: a\x01b"])
def test_headers_that_cannot_be_sent_are_exit_2(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, header: str
) -> None:
    assert "--header number 1" in _fails(capsys, 2, "call", "models", "list", "--header", header)


def test_a_parameter_file_that_is_not_text_is_exit_2(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8 text" in _fails(
        capsys, 2, "call", "models", "read", "-p", f"model_id=@{binary}"
    )


def test_a_base_url_with_a_bad_port_is_exit_2(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer
) -> None:
    assert "Invalid port" in _fails(
        capsys, 2, "--base-url", "http://[::1", "call", "models", "list"
    )


def test_a_definition_nested_1000_levels_is_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 3000 + "1" + "}" * 3000)
    _fails(capsys, 2, "validate", str(deep))


def test_a_connection_dropped_mid_answer_is_exit_1(
    capsys: pytest.CaptureFixture[str], api_env: SandboxServer, tmp_path: Path
) -> None:
    plan = FaultPlan(rules=[FaultRule(route="/v1/models", drop_rate=1.0)])
    api_env.app.state.faults.replace(plan)
    try:
        _fails(capsys, 1, "call", "models", "list")
    finally:
        api_env.app.state.faults.replace(FaultPlan())


def test_an_internal_error_is_one_line_pointing_to_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> int:
        raise KeyError("a bug of ours")

    monkeypatch.setattr(cli, "cmd_schema", broken)
    monkeypatch.delenv("CONNECTOR_DEBUG", raising=False)
    err = _fails(capsys, 1, "schema")
    assert err.count("\n") == 1
    assert "internal error KeyError" in err and "--debug" in err and "CONNECTOR_DEBUG=1" in err
    with pytest.raises(KeyError):
        main(["--debug", "schema"])
    monkeypatch.setenv("CONNECTOR_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["schema"])


def test_arguments_that_are_not_utf8_print_escaped_not_a_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "ANTHROPIC_"))}
    done = subprocess.run(
        [sys.executable, "-m", "connector", "describe", os.fsdecode(b"models\xff")],
        capture_output=True,
        env=env | {"PYTHONIOENCODING": "utf-8"},
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr
    assert b"\\udcff" in done.stderr
