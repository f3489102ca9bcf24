"""What a person sees, on a real pseudo-terminal at 80 and 200 columns (issue 13 item 3):
tables fit the width, nothing a user would copy is cut, colour only on a terminal and never
with NO_COLOR or on a pipe."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from connector.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[25])")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(batch_seconds=0.3) as running:
        yield running


def _env(server: SandboxServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "ANTHROPIC_"))}
    env.pop("NO_COLOR", None)
    env.pop("COLUMNS", None)
    env |= {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
    return env | {"TERM": "xterm-256color"} | extra


def _on_terminal(env: dict[str, str], width: int, *argv: str) -> tuple[str, list[str]]:
    """Run on a pty ``width`` columns wide; the raw output and its lines without escapes."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "connector", *argv],
        env=env,
        dimensions=(50, width),
        encoding="utf-8",
        timeout=60,
        cwd=str(ROOT),
    )
    raw = child.read()
    child.close()
    assert child.exitstatus == 0, raw
    text = ANSI.sub("", raw.replace("\r\n", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return raw, lines


def _batch(server: SandboxServer) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "connector", "call", "message_batches", "create",
         "-p", "custom_id=t", "-p", "model=claude-haiku-4-5", "-p", "max_tokens=5",
         "-p", "content=hi"],
        env=_env(server), capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    )  # fmt: skip
    batch_id: str = json.loads(done.stdout)["id"]
    return batch_id


@pytest.mark.parametrize("width", [80, 200])
def test_a_list_is_a_table_that_fits(server: SandboxServer, width: int) -> None:
    raw, lines = _on_terminal(_env(server), width, "call", "models", "list")
    assert all(len(line) <= width for line in lines)
    header = next(line for line in lines if "display_name" in line)
    assert header.split() == ["id", "display_name", "created_at"]
    piped = subprocess.run(
        [sys.executable, "-m", "connector", "call", "models", "list"],
        env=_env(server), capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )  # fmt: skip
    ids = [m["id"] for m in json.loads(piped.stdout)]
    assert ids and all(any(i in line for line in lines) for i in ids)  # whole ids, not cut
    assert COLOUR.search(raw), "a terminal gets colour"


@pytest.mark.parametrize("width", [80, 200])
def test_one_record_is_a_vertical_list_with_long_values_wrapped_not_cut(
    server: SandboxServer, width: int
) -> None:
    batch_id = _batch(server)
    _, lines = _on_terminal(
        _env(server), width, "call", "message_batches", "read", "-p", f"batch_id={batch_id}"
    )
    assert all(len(line) <= width for line in lines)
    keys = [line.split()[0] for line in lines if line and not line.startswith(" ")]
    assert keys[:2] == ["id", "processing_status"]
    start = next(i for i, line in enumerate(lines) if line.startswith("results_url"))
    indent = lines[start].index("http")
    value = lines[start][indent:]
    for follow in lines[start + 1 :]:
        if follow[:indent].strip():
            break
        value += follow[indent:]
    assert value == f"{server.base_url}/v1/messages/batches/{batch_id}/results"
    if width == 200:
        assert value in lines[start]  # wide enough: on one line


@pytest.mark.parametrize("width", [80, 200])
def test_describe_fits_the_terminal(server: SandboxServer, width: int) -> None:
    _, lines = _on_terminal(_env(server), width, "describe")
    assert all(len(line) <= width for line in lines)
    assert any(line.startswith("message_batches") for line in lines)
    assert any("batch_id*=<String>" in line for line in lines)
    assert any(line.startswith("fields") for line in lines)


def test_no_colour_with_no_color(server: SandboxServer) -> None:
    raw, lines = _on_terminal(_env(server, NO_COLOR="1"), 80, "call", "models", "list")
    assert not COLOUR.search(raw)
    assert any("display_name" in line for line in lines)


def test_no_escape_codes_at_all_on_a_pipe(server: SandboxServer) -> None:
    for argv in (["call", "models", "list"], ["describe"], ["--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "connector", *argv],
            env=_env(server), capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0
        assert "\x1b[" not in done.stdout + done.stderr, argv


def test_batch_progress_is_a_bar_with_elapsed_time_and_counts(
    server: SandboxServer, tmp_path: Path
) -> None:
    line = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        "\n".join(json.dumps({"custom_id": f"r{i}", "params": line}) for i in range(3))
    )
    raw, lines = _on_terminal(
        _env(server), 100, "batch", "run", str(requests), "--poll-interval", "0.2",
        "--out", str(tmp_path / "out.jsonl"),
    )  # fmt: skip
    text = "\n".join(lines)
    assert "━" in raw  # rich's bar
    assert re.search(r"3/3\s+0:00:\d\d", text), text
    assert "succeeded 3" in text
