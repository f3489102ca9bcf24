"""`connector demo`: the README's main job, from a fresh process, with no key."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def test_demo_runs_end_to_end_without_a_key_in_under_15_seconds() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CONNECTOR_"))}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--batch-seconds", "1.5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert elapsed < 15
    lines = done.stdout.splitlines()
    assert any(line.startswith("capital-france") and "Paris" in line for line in lines)
    assert any(line.startswith("unknown-model") and "errored" in line for line in lines)
    assert "results: 1 errored, 3 succeeded" in done.stdout
    assert "submitted msgbatch_" in done.stderr and "ended" in done.stderr
    webhook = next(line for line in lines if line.startswith("webhook:"))
    assert "message_batches.ended" in webhook and "signature verified" in webhook
    # It says which reply errored on purpose and why, and what to try next (issue 13 item 10).
    assert "unknown-model errored on purpose" in done.stdout and "not_found_error" in done.stdout
    tips = done.stdout.split("next, try:", 1)[1].splitlines()
    assert sum(1 for tip in tips if tip.strip().startswith("connector ")) >= 3
