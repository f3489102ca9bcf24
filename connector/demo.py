"""``connector demo``: the whole product end to end on an in-process sandbox; no key, no set-up.

It starts the sandbox on a free loopback port, submits a batch of sample requests through the
engine, shows progress until the batch ends, streams the results and prints a summary. When
the emitter is available it also starts a verifying receiver, subscribes it, and shows the
``message_batches.ended`` webhook arriving.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .cli.output import print_table
from .client import Connector
from .config import bundled_definition_path
from .types import JSON

__all__ = ["SAMPLE_REQUESTS", "run_demo"]

SAMPLE_REQUESTS: list[dict[str, JSON]] = [
    {
        "custom_id": "capital-france",
        "params": {
            "model": "claude-opus-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
        },
    },
    {
        "custom_id": "summary-1",
        "params": {
            "model": "claude-haiku-4-5",
            "max_tokens": 64,
            "messages": [
                {
                    "role": "user",
                    "content": "Summarize: batches are processed asynchronously at half price.",
                }
            ],
        },
    },
    {
        "custom_id": "greeting",
        "params": {
            "model": "claude-opus-4-5",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": "Say hello to the integration team."}],
        },
    },
    {
        "custom_id": "unknown-model",
        "params": {
            "model": "claude-does-not-exist",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "This one fails on purpose."}],
        },
    },
]

DEMO_KEY = "sandbox-demo-key"


def _first_words(text: str, count: int = 8) -> str:
    words = text.split()
    return " ".join(words[:count]) + (" ..." if len(words) > count else "")


def summarize(result: dict[str, JSON]) -> tuple[str, str, str]:
    """(custom_id, result type, first words of the reply or the error) of one results line."""
    outcome = result.get("result") or {}
    kind = str(outcome.get("type"))
    detail = ""
    if kind == "succeeded":
        blocks = outcome.get("message", {}).get("content") or []
        text = " ".join(b.get("text", "") for b in blocks if isinstance(b, dict))
        detail = _first_words(text)
    elif kind == "errored":
        detail = str(outcome.get("error", {}).get("error", {}).get("message", ""))
    return str(result.get("custom_id")), kind, detail


def run_demo(
    *,
    batch_seconds: float = 3.0,
    poll_interval: float = 0.5,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    webhooks: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run the demo; returns the exit code. Output: the summary on ``out``, progress on ``err``."""
    from .sandbox import SandboxServer

    out = out or sys.stdout
    err = err or sys.stderr
    with (
        SandboxServer(batch_seconds=batch_seconds) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(
            f"sandbox: {sandbox.base_url} (an imitation of the Anthropic API, in this process)",
            file=err,
        )
        hooks = _start_webhooks(sandbox.base_url, Path(tmp), err) if webhooks else None
        try:
            with Connector(
                bundled_definition_path(), base_url=sandbox.base_url, api_key=DEMO_KEY
            ) as api:
                batch = api.call(
                    "message_batches", "create", body={"requests": SAMPLE_REQUESTS}, raw=True
                )
                batch_id = batch["id"]
                print(f"submitted {batch_id} with {len(SAMPLE_REQUESTS)} requests", file=err)
                started = time.monotonic()
                while batch["processing_status"] != "ended":
                    counts = batch["request_counts"]
                    print(
                        f"  {batch['processing_status']:<12} processing={counts['processing']} "
                        f"({time.monotonic() - started:.1f}s)",
                        file=err,
                    )
                    if hooks is not None:
                        hooks.step()
                    sleep(poll_interval)
                    batch = api.call("message_batches", "read", {"batch_id": batch_id}, raw=True)
                counts = batch["request_counts"]
                print(
                    f"  ended        {', '.join(f'{k}={v}' for k, v in counts.items() if v)}",
                    file=err,
                )
                kinds: Counter[str] = Counter()
                rows = []
                for line in api.stream_jsonl("message_batches", "results", {"batch_id": batch_id}):
                    custom_id, kind, detail = summarize(line)
                    kinds[kind] += 1
                    rows.append({"custom_id": custom_id, "result": kind, "reply": detail})
                print_table(rows, out, vertical_single=False)
                print(
                    "results: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())), file=out
                )
                if kinds.get("errored"):
                    print(
                        "  (unknown-model errored on purpose: it names a model that does not "
                        "exist, so the API answers not_found_error for that one request while "
                        "the others succeed)",
                        file=out,
                    )
            if hooks is not None:
                arrived = hooks.wait_for("message_batches.ended", batch_id)
                if arrived is None:
                    print("webhook: message_batches.ended did not arrive", file=err)
                    return 1
                print(f"webhook: {arrived}", file=out)
        finally:
            if hooks is not None:
                hooks.close()
    print(NEXT_STEPS, file=out)
    return 0


NEXT_STEPS = """
next, try:
  connector sandbox --port 8080 &                # the same API imitation, kept running
  export ANTHROPIC_BASE_URL=http://127.0.0.1:8080 ANTHROPIC_API_KEY=any-key
  connector describe messages                    # what a call needs
  connector call messages create -p model=claude-haiku-4-5 -p max_tokens=100 -p content=Hello
  connector batch run requests.jsonl             # your own batch (see connector batch run --help)"""


def _start_webhooks(base_url: str, workdir: Path, err: IO[str]) -> _Webhooks | None:
    try:
        return _Webhooks(base_url, workdir, err)
    except ImportError:  # the emitter is an optional part of a trimmed install
        return None


class _Webhooks:
    """A verifying receiver, a subscription to it, and an emitter polling the sandbox."""

    def __init__(self, base_url: str, workdir: Path, err: IO[str]) -> None:
        from .emitter.demo_support import DemoWebhooks

        self._impl = DemoWebhooks(base_url=base_url, api_key=DEMO_KEY, workdir=workdir, err=err)

    def step(self) -> None:
        self._impl.step()

    def wait_for(self, event: str, record_id: str) -> str | None:
        return self._impl.wait_for(event, record_id)

    def close(self) -> None:
        self._impl.close()
