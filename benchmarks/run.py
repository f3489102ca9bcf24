"""Every benchmark, one table: ``python benchmarks/run.py [--quick] [--only NAME …] [--json F]``.

Each ``benchmarks/bench_*.py`` that exposes ``suite(quick: bool) -> list[Figure]`` is run in
turn (``--only startup engine`` picks some); the table shows, per measure, the median of its
per-round ratios with their min–max, the target and whether it is met. How to read it, and the
latest table: ``docs/performance.md``. Rules every suite follows: ``benchmarks/harness.py``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness import Figure, render  # noqa: E402


def suites() -> list[str]:
    """Every benchmark module with a ``suite`` function, in file order."""
    names = []
    for path in sorted(HERE.glob("bench_*.py")):
        if "def suite(" in path.read_text():
            names.append(path.stem.removeprefix("bench_"))
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds")
    parser.add_argument("--only", nargs="*", default=None, help=f"suites to run: {suites()}")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    chosen = args.only or suites()
    unknown = sorted(set(chosen) - set(suites()))
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {suites()}")
    figures: list[Figure] = []
    failed = 0
    for name in chosen:
        started = time.perf_counter()
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench_{name}")
            figures += module.suite(args.quick)
        except Exception:  # one broken suite must not hide the others' figures
            failed += 1
            traceback.print_exc()
            figures.append(Figure(name, "(the suite failed: see stderr)", note="failed"))
        print(f"   {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    render(figures, title="connector benchmarks" + (" (quick)" if args.quick else ""))
    if args.json:
        args.json.write_text(json.dumps([f.as_json() for f in figures], indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
