"""Data pulls (issue 15): into DuckDB vs dlt's own ``rest_api`` source, and incremental cost.

    python benchmarks/bench_pulls.py [--quick]

A sandbox in its own process (so it does not share the client's interpreter) holds N ended
batches (100,000; 5,000 with --quick), listed 1,000 a page. Both loaders run as fresh
processes into a new DuckDB file each time, in interleaved rounds:

- ``connector pull message_batches --to duckdb:///…`` (typed fields, merge on ``id``);
- dlt's ``rest_api`` source configured for the same listing (cursor ``last_id`` → ``after_id``,
  merge on ``id``).

The figure is rest_api's time over connector's (≥ 1.0: connector is not slower). The
incremental figure counts the list pages a ``--incremental`` pull fetches once 100 batches are
added to the N already pulled (the API lists newest first, so it stops at the first old one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Figure, has_module, interleaved, ratios, render

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-not-a-secret"

_SERVER = """
import sys, datetime
from connector.sandbox import SandboxServer
count = int(sys.argv[1])
with SandboxServer(batch_seconds=0.01, api_key=sys.argv[2]) as server:
    state = server.app.state.sandbox
    start = state.now() - datetime.timedelta(hours=2)
    request = [{"custom_id": "r", "params": {"model": "claude-sonnet-4-5", "max_tokens": 8,
                "messages": [{"role": "user", "content": "hi"}]}}]
    for i in range(count):
        state.add_batch(request, created_at=start + datetime.timedelta(milliseconds=50 * i))
    print(server.base_url, flush=True)
    sys.stdin.read()
"""

_REST_API = """
import sys, dlt
from dlt.sources.rest_api import rest_api_source
base, key, database, work = sys.argv[1:5]
source = rest_api_source({
    "client": {
        "base_url": base + "/v1/",
        "headers": {"x-api-key": key, "anthropic-version": "2023-06-01"},
        "paginator": {"type": "cursor", "cursor_path": "last_id", "cursor_param": "after_id"},
    },
    "resources": [{
        "name": "message_batches",
        "primary_key": "id",
        "write_disposition": "merge",
        "endpoint": {"path": "messages/batches", "params": {"limit": 1000}, "data_selector": "data"},
    }],
})
pipeline = dlt.pipeline("bench_rest_api", destination=dlt.destinations.duckdb(database),
                        dataset_name="bench", pipelines_dir=work)
pipeline.run(source)
"""


def _connector() -> list[str]:
    script = Path(sys.executable).parent / "connector"
    return [str(script)] if script.exists() else [sys.executable, "-m", "connector"]


def _fresh_run(argv: list[str], env: dict[str, str], work: Path) -> float:
    for path in list(work.glob("*")):
        subprocess.run(["rm", "-rf", str(path)], check=True)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {done.stderr[-2000:]}")
    return elapsed


def _incremental_pages(base_url: str, work: Path) -> tuple[int, int]:
    """(pages of the first full pull, pages of the incremental pull after 100 new batches)."""
    import httpx

    from connector import Connector
    from connector.pulls.outputs import write_records
    from connector.pulls.pull import Pull
    from connector.pulls.state import PullStateStore

    store = PullStateStore(work / "state.db")
    pages = [0]

    def count(request: httpx.Request) -> None:
        if request.method == "GET" and request.url.path.endswith("/batches"):
            pages[0] += 1

    http = httpx.Client(event_hooks={"request": [count]}, timeout=300)
    definition = ROOT / "definitions" / "claude-api.json"
    with Connector(definition, base_url=base_url, api_key=KEY, http_client=http) as api:
        full = Pull(api, "message_batches", params={"limit": 1000}, incremental=True, store=store)
        write_records(full.records(), "jsonl", os.devnull)
        full.commit()
        full_pages, pages[0] = pages[0], 0
        for i in range(100):
            api.call(
                "message_batches",
                "create",
                {
                    "custom_id": f"new{i}",
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 8,
                    "content": "hi",
                },
            )
        pages[0] = 0
        new = Pull(api, "message_batches", params={"limit": 1000}, incremental=True, store=store)
        got = sum(1 for _ in new.records())
        new.commit()
    http.close()
    if got != 100:
        raise RuntimeError(f"the incremental pull returned {got} batches, not 100")
    return full_pages, pages[0]


def suite(quick: bool) -> list[Figure]:
    count = 5_000 if quick else 100_000
    rounds = 2 if quick else 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(count), KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    figures: list[Figure] = []
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "c").mkdir()
            (work / "r").mkdir()
            connector_env = {**env, "DLT_DATA_DIR": str(work / "c"), "RUNTIME__LOG_LEVEL": "ERROR"}
            connector_argv = [
                *_connector(), "--base-url", base_url, "--api-key", KEY, "pull",
                "message_batches", "-p", "limit=1000", "--to", f"duckdb:///{work / 'c' / 'x.duckdb'}",
            ]  # fmt: skip
            rest_argv = [
                sys.executable, "-c", _REST_API, base_url, KEY,
                str(work / "r" / "x.duckdb"), str(work / "r"),
            ]  # fmt: skip
            if has_module("dlt"):
                samples = interleaved(
                    {
                        "connector": lambda: _fresh_run(connector_argv, connector_env, work / "c"),
                        "rest_api": lambda: _fresh_run(rest_argv, env, work / "r"),
                    },
                    rounds=rounds,
                    warmup=False,
                )
                seconds = samples["connector"]
                figures.append(
                    Figure(
                        "pulls",
                        f"{count:,} batches into DuckDB: dlt rest_api time / connector time",
                        ratios(samples, "rest_api", "connector"),
                        target=1.0,
                        bound="min",
                        note=f"connector {min(seconds):.1f}-{max(seconds):.1f} s",
                    )
                )
            else:
                figures.append(
                    Figure("pulls", "into DuckDB vs dlt rest_api", note="dlt not installed")
                )
            (work / "i").mkdir()
            full_pages, new_pages = _incremental_pages(base_url, work / "i")
            figures.append(
                Figure(
                    "pulls",
                    f"incremental pull, {count:,} old + 100 new: list pages fetched "
                    f"(full pull: {full_pages})",
                    [float(new_pages)],
                    target=3,
                    unit="pages",
                )
            )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    return figures


if __name__ == "__main__":
    figures = suite("--quick" in sys.argv)
    render(figures, title="pulls")
    print(json.dumps([f.as_json() for f in figures]))
