"""Start-up benchmark: whole ``connector`` processes against ``python -c pass``.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/bench_startup.py            # 15 rounds
    .venv/bin/python benchmarks/bench_startup.py --quick    # 3 rounds, a smoke run

Each round runs every variant once, in a rotating order (so a load spike on the machine hits
each variant alike); the table shows each variant's median wall time, its min-max, and the
ratio of medians to ``python -c pass`` measured in the same rounds.

Targets (issue 11 item 1): ``--help`` ≤ 5×, ``describe`` and ``validate`` ≤ 10×.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "definitions" / "claude-api.json"

VARIANTS: dict[str, tuple[list[str], float | None]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "connector --help": ([sys.executable, "-m", "connector", "--help"], 5.0),
    "connector describe --json": ([sys.executable, "-m", "connector", "describe", "--json"], 10.0),
    "connector validate": ([sys.executable, "-m", "connector", "validate", str(DEFINITION)], 10.0),
}


def _once(command: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "ANTHROPIC_"))}
    started = time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 15")
    rounds = 3 if parser.parse_args().quick else 15
    names = list(VARIANTS)
    for name in names:  # warm-up: the file cache and .pyc files
        _once(VARIANTS[name][0])
    times: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_once(VARIANTS[name][0]))
    base = statistics.median(times["python -c pass"])
    print(f"{'variant':<28} {'median':>8} {'min-max':>15} {'ratio':>7} {'target':>7}  met")
    for name in names:
        median = statistics.median(times[name])
        target = VARIANTS[name][1]
        ratio = median / base
        spread = f"{min(times[name]) * 1000:.0f}-{max(times[name]) * 1000:.0f} ms"
        met = "" if target is None else ("yes" if ratio <= target else "NO")
        target_text = "" if target is None else f"≤{target:g}×"
        print(
            f"{name:<28} {median * 1000:>6.0f}ms {spread:>15} {ratio:>6.1f}× {target_text:>7}  {met}"
        )


if __name__ == "__main__":
    main()
