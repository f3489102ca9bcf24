"""Start-up: whole commands' wall time as a ratio to ``python -c pass`` (issue 11, item 1).

    python benchmarks/bench_startup.py [--quick]

Every variant is a fresh process; rounds are interleaved in rotating order. ``call`` runs
against a sandbox on 127.0.0.1 started once beforehand (its start is not measured).
Measured with bytecode caches, as an installed package runs (``PYTHONDONTWRITEBYTECODE`` is
removed for the commands; the warm-up run writes the caches).
``workflow run`` is compared with Jentic's arazzo-runner where it is installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness import Figure, interleaved, ratios, render, wall_time

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"--help": 5.0, "describe": 10.0, "validate": 10.0, "call": 12.0}


def _connector() -> list[str]:
    script = Path(sys.executable).parent / "connector"
    return [str(script)] if script.exists() else [sys.executable, "-m", "connector"]


def suite(quick: bool) -> list[Figure]:
    from connector.sandbox import SandboxServer

    rounds = 3 if quick else 9
    cli = _connector()
    with SandboxServer(batch_seconds=0.01) as sandbox:
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
        samples = interleaved(variants, rounds=rounds)
    return [
        Figure(
            "startup",
            f"connector {name} / python -c pass",
            ratios(samples, name, "python"),
            target=target,
        )
        for name, target in TARGETS.items()
    ]


if __name__ == "__main__":
    render(suite("--quick" in sys.argv), title="start-up")
