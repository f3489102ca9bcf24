"""What every benchmark shares, so that none of them can flatter the project.

- Variants run in **interleaved rounds in rotating order** (round 1: a b c, round 2: b c a, …),
  after a warm-up of each, so a slow minute of this shared machine hits every variant alike.
- A figure is a **ratio per round** (variant / baseline measured in that same round); the
  table shows the median and the min–max of those ratios, never a single run.
- **Peak memory** is measured in a fresh process per variant (:func:`in_fresh_process`), never
  after another measurement in the same process.
- Each row carries its target and says whether it is met; a baseline that cannot run here
  (a package not installed) is reported as such, not silently dropped.

A benchmark module exposes ``suite(quick: bool) -> list[Figure]``; ``benchmarks/run.py`` runs
every suite and prints one table.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One row of the table: a measure, its per-round values, and its target."""

    suite: str
    name: str
    values: list[float] = field(default_factory=list)
    target: float | None = None
    # "max": the value must not exceed the target (ratios of cost); "min": at least the target.
    bound: str = "max"
    unit: str = "×"
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.median is None:
            return None
        return self.median <= self.target if self.bound == "max" else self.median >= self.target

    def as_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "name": self.name,
            "median": self.median,
            "min": min(self.values) if self.values else None,
            "max": max(self.values) if self.values else None,
            "values": self.values,
            "target": self.target,
            "bound": self.bound,
            "unit": self.unit,
            "met": self.met,
            "note": self.note,
        }


def rotations(names: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of the variants in each round: rotated by one every round."""
    order = list(names)
    return [order[r % len(order) :] + order[: r % len(order)] for r in range(rounds)]


def interleaved(
    variants: dict[str, Callable[[], float]], *, rounds: int, warmup: bool = True
) -> dict[str, list[float]]:
    """Run each variant once per round, in rotating order; each call returns its own measure
    (seconds, usually). A warm-up call of every variant comes first and is thrown away."""
    if warmup:
        for run in variants.values():
            run()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for order in rotations(list(variants), rounds):
        for name in order:
            samples[name].append(variants[name]())
    return samples


def ratios(samples: dict[str, list[float]], numerator: str, denominator: str) -> list[float]:
    """Per-round ratios of two variants measured in the same rounds."""
    return [a / b for a, b in zip(samples[numerator], samples[denominator], strict=True) if b]


def timed(
    function: Callable[[], object],
    count: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Callable[[], float]:
    """A variant that calls ``function`` ``count`` times and returns seconds per call.

    ``clock=time.process_time`` measures this process's CPU time instead of the wall clock:
    right for work done wholly in process (nothing waits on another process), where it leaves
    out the time other processes of a shared machine take the CPU away."""

    def run() -> float:
        start = clock()
        for _ in range(count):
            function()
        return (clock() - start) / count

    return run


def peak_mib() -> float:
    """This process's own peak RSS in MiB (``VmHWM``: ``ru_maxrss`` survives fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def in_fresh_process(argv: Sequence[str], *, timeout: float = 900) -> dict[str, Any]:
    """Run ``python argv…`` in a new process; its last stdout line is a JSON object."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ANTHROPIC_BASE_URL", None)
    done = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def wall_time(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Callable[[], float]:
    """A variant that runs a whole command and returns its wall time in seconds."""

    def run() -> float:
        start = time.perf_counter()
        subprocess.run(
            list(argv),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            timeout=300,
        )
        return time.perf_counter() - start

    return run


def has_module(name: str) -> bool:
    """Whether a baseline's package is installed (the row then says it is missing)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a dotted name whose package is missing
        return False


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "×":
        return f"{value:.2f}×"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.3g} {unit}".strip()


def render(figures: Sequence[Figure], *, title: str = "connector benchmarks") -> None:
    """One table of medians with min–max, target and met / not met."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a dependency; this keeps a broken install readable
        for f in figures:
            print(f"{f.suite:10s} {f.name:60s} {_format(f.median, f.unit):>10s} {f.met}")
        return
    table = Table(title=title, show_lines=False)
    for column, justify in (
        ("suite", "left"),
        ("measure", "left"),
        ("median", "right"),
        ("min–max", "right"),
        ("target", "right"),
        ("", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in figures:
        spread = (
            f"{_format(min(f.values), f.unit)}–{_format(max(f.values), f.unit)}"
            if f.values
            else f.note or "not run"
        )
        sign = "≤" if f.bound == "max" else "≥"
        target = f"{sign} {_format(f.target, f.unit)}" if f.target is not None else ""
        verdict = {True: "[green]met[/]", False: "[red]not met[/]", None: ""}[f.met]
        table.add_row(f.suite, f.name, _format(f.median, f.unit), spread, target, verdict)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(table)
