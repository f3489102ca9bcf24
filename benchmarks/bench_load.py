"""Definition load benchmark: load must be linear in the number of resources, and fast.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/bench_load.py            # 1,000 and 4,000 resources
    .venv/bin/python benchmarks/bench_load.py --quick    # 200 and 800, a smoke run

A synthetic definition repeats the shipped definition's resources under distinct handles,
endpoints, field selectors (Corteza arrays and JSONPath), placeholders, templated headers,
query parameters and JSON bodies, so that no two resources share a template text. Each size
is loaded ``--repeats`` times, interleaved with the baseline (pydantic validation of the same
document alone, which load cannot beat), and medians are compared.

Targets: 1,000 resources load in under 1 s (printed as measured / target), and 4 × the
resources cost no more than ~4.5 × the time (linear: printed as the growth ratio).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from connector.definitions import Connection, load_definition

TARGET_SECONDS = 1.0
LINEAR_LIMIT = 4.5


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


def _time(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(count: int, repeats: int) -> tuple[float, float]:
    """Median seconds of (load, validation alone) for ``count`` resources, interleaved."""
    text = json.dumps(document(count))
    loads: list[float] = []
    validations: list[float] = []
    for _ in range(repeats):
        loads.append(_time(lambda: load_definition(text)))
        validations.append(_time(lambda: Connection.model_validate(json.loads(text))))
    return statistics.median(loads), statistics.median(validations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    small = 200 if args.quick else 1000
    load_small, validate_small = measure(small, args.repeats)
    load_large, _ = measure(4 * small, max(1, args.repeats // 2))
    per_thousand = load_small * 1000 / small
    growth = load_large / load_small
    print(f"load {small} resources: {load_small * 1000:.0f} ms (median of {args.repeats})")
    print(f"  pydantic validation alone: {validate_small * 1000:.0f} ms")
    print(f"  load / validation alone: {load_small / validate_small:.2f}x")
    print(
        f"  per 1,000 resources: {per_thousand:.3f} s; target {TARGET_SECONDS:.1f} s; "
        f"measured / target = {per_thousand / TARGET_SECONDS:.2f} "
        f"({'met' if per_thousand <= TARGET_SECONDS else 'MISSED'})"
    )
    print(f"load {4 * small} resources: {load_large * 1000:.0f} ms")
    print(
        f"  growth for 4x resources: {growth:.2f}x; limit {LINEAR_LIMIT}x "
        f"({'linear' if growth <= LINEAR_LIMIT else 'NOT LINEAR'})"
    )


if __name__ == "__main__":
    main()
