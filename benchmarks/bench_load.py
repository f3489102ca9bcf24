"""Definition load benchmark: load must be linear in the number of resources, and fast.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/bench_load.py            # 1,000 and 4,000 resources
    .venv/bin/python benchmarks/bench_load.py --quick    # 200 and 800, a smoke run
    .venv/bin/python benchmarks/run.py --only load       # the same, in the one table

A synthetic definition repeats the shipped definition's resources under distinct handles,
endpoints, field selectors (Corteza arrays and JSONPath), placeholders, templated headers,
query parameters and JSON bodies, so that no two resources share a template text. Each size
is loaded in interleaved rotating rounds (``benchmarks/harness.py``) with the baseline:
pydantic validation of the same document alone, which load cannot beat. Caches of compiled
templates and selectors are cleared before every load.

Targets: 1,000 resources load in under 1 s (CPU time is shown beside wall time: on this
shared 2-core machine other processes inflate the wall time, not the CPU time); load costs at most 4 × validation alone; 4 × the
resources cost at most 4.5 × the time (linear).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from harness import Figure, interleaved, ratios, render

from connector import selectors
from connector.definitions import Connection, load_definition
from connector.templates import compile_template

TARGET_SECONDS = 1.0
LINEAR_LIMIT = 4.5
LOAD_OVER_VALIDATION = 4.0


def resource(index: int) -> dict[str, Any]:
    """One resource, unique by ``index`` in every template and selector text."""
    name = f"things_{index}"
    ident = f"thing_{index}_id"
    return {
        "handle": name,
        "meta": {"short": f"Things number {index}"},
        "endpoint": {"value": f"/v{index % 7}/{name}"},
        "headers": {"anthropic-beta": f"things-{index}-2025"},
        "fields": [
            {"name": "id", "selector": ["id"]},
            {"name": "created_at", "type": "DateTime", "selector": ["created_at"]},
            {"name": f"tokens_{index}", "type": "Integer", "selector": f"$.usage.tokens_{index}"},
            {"name": "first_text", "selector": ["content", 0, f"text_{index}"]},
        ],
        "operations": {
            "list": {
                "method": "GET",
                "queryParams": {
                    "value": {"limit": "{{limit}}", f"after_{index}": f"{{{{after_{index}}}}}"},
                    "placeholders": [
                        {"name": "limit", "type": "Integer"},
                        {"name": f"after_{index}"},
                    ],
                },
                "records": ["data"],
                "pagination": {"type": "cursor", "param": f"after_{index}"},
            },
            "read": {
                "method": "GET",
                "path": {
                    "value": f"/{{{{{ident}}}}}",
                    "placeholders": [{"name": ident, "required": True}],
                },
            },
            "create": {
                "method": "POST",
                "bodyTemplate": {
                    "value": (
                        f'{{"model": "{{{{model}}}}", "max_tokens": {{{{max_tokens}}}}, '
                        f'"tag_{index}": "{{{{tag}}}}", "messages": {{{{messages}}}}}}'
                    ),
                    "placeholders": [
                        {"name": "model", "required": True},
                        {"name": "max_tokens", "type": "Integer", "default": 1024},
                        {"name": "tag", "default": f"t{index}"},
                        {"name": "messages", "type": "Array", "required": True},
                    ],
                },
            },
            "delete": {
                "method": "DELETE",
                "path": {
                    "value": f"/{{{{{ident}}}}}/remove_{index}",
                    "placeholders": [{"name": ident, "required": True}],
                },
            },
        },
        "webhooks": [
            {
                "event": f"{name}.created",
                "path": f"/webhooks/{name}.created",
                "payload": [{"name": "id", "selector": ["id"]}],
                "trigger": {"type": "created"},
            }
        ],
    }


def document(count: int) -> dict[str, Any]:
    return {
        "handle": "bench",
        "service": {
            "baseURL": "{{ env.BENCH_BASE_URL or 'http://127.0.0.1:1' }}",
            "variables": {"baseURL": "BENCH_BASE_URL"},
        },
        "resources": [resource(i) for i in range(count)],
    }


def _fresh_load(text: str) -> None:
    # Compiled templates and selectors are cached per process by their text; a benchmark
    # that loads the same document again must not measure the cache.
    compile_template.cache_clear()
    selectors._parse.cache_clear()
    load_definition(text)


def _seconds(function: Any, cpu: list[float] | None = None) -> Any:
    """A variant returning wall seconds; ``cpu`` collects the same runs' CPU seconds."""

    def run() -> float:
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        if cpu is not None:
            cpu.append(time.process_time() - start_cpu)
        return time.perf_counter() - start

    return run


def suite(quick: bool) -> list[Figure]:
    small = 200 if quick else 1000
    rounds = 2 if quick else 5
    texts = {size: json.dumps(document(size)) for size in (small, 4 * small)}
    cpu: list[float] = []
    variants = {
        "validate": _seconds(lambda: Connection.model_validate(json.loads(texts[small]))),
        "load": _seconds(lambda: _fresh_load(texts[small]), cpu),
        "load x4": _seconds(lambda: _fresh_load(texts[4 * small])),
    }
    samples = interleaved(variants, rounds=rounds)
    per_thousand = [seconds * 1000 / small for seconds in samples["load"]]
    cpu_per_thousand = [seconds * 1000 / small for seconds in cpu[1:]]  # without the warm-up
    return [
        Figure(
            "load",
            "load 1,000 resources, CPU (s); target 1 s",
            cpu_per_thousand,
            target=TARGET_SECONDS,
            unit="s",
            note="CPU time: load is single-threaded and does no I/O, so on a shared machine "
            "this is the figure other processes do not inflate",
        ),
        Figure(
            "load",
            "load 1,000 resources, wall (s); target 1 s",
            per_thousand,
            target=TARGET_SECONDS,
            unit="s",
            note=f"measured at {small} resources" if small != 1000 else "",
        ),
        Figure(
            "load",
            "load / pydantic validation of the same document",
            ratios(samples, "load", "validate"),
            target=LOAD_OVER_VALIDATION,
        ),
        Figure(
            "load",
            f"load {4 * small:,} / load {small:,} resources (linear: about 4)",
            ratios(samples, "load x4", "load"),
            target=LINEAR_LIMIT,
        ),
    ]


if __name__ == "__main__":
    render(suite("--quick" in sys.argv), title="definition load")
