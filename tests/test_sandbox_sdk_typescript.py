"""The official TypeScript SDK (the installed @anthropic-ai/sdk, run through Node) against the
sandbox: every answer has every property its .d.ts interfaces declare without ``?``."""

from __future__ import annotations

import json
import subprocess

import pytest
from node_tools import NODE_DIR, node_bin, node_package

from connector.sandbox import ManualClock, SandboxServer

SCRIPT = NODE_DIR / "check-sdk-fields.mjs"


@pytest.mark.parametrize("version", ["2026-10-21", "2023-06-01"])
def test_every_declared_property_is_in_every_answer(version: str) -> None:
    node_bin("redocly")  # the tools are installed (skips with the command to run, fails in CI)
    sdk = json.loads((node_package("@anthropic-ai/sdk") / "package.json").read_text())
    assert sdk["version"] == "1.15.0"
    with SandboxServer(clock=ManualClock(), batch_seconds=1.0) as server:
        done = subprocess.run(
            ["node", str(SCRIPT), server.base_url, version],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=NODE_DIR,
        )
    report = json.loads(done.stdout)
    assert report.get("error") is None, report.get("error")
    assert report["missing"] == []
    assert report["checked"] >= 31  # messages, stream events, batches, models, files, skills
    assert done.returncode == 0
