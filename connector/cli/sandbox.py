"""``connector sandbox``: serve the imitation of the API until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
from types import FrameType

import uvicorn

from connector.errors import ConfigurationError
from connector.sandbox.app import SEED_PREFIX, create_app
from connector.sandbox.faults import FaultPlan
from connector.sandbox.server import listen_socket, quiet_dropped_connections
from connector.sandbox.state import SandboxState

__all__ = ["EXAMPLE_BATCH_ID", "add_commands", "add_examples", "run_sandbox"]

EXAMPLE_BATCH_ID = "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF"
"""The batch id the seeds' curl examples use (results, cancel)."""


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``sandbox`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "sandbox",
        help="serve a local imitation of the Anthropic API",
        description="Serve a local imitation of the Anthropic API (no key needed: any key is "
        "accepted unless --api-key is given). Stop it with Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument(
        "--batch-seconds", type=float, default=2.0, help="how long a message batch takes"
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        help="chance (0-1) that an API call answers 429, 500 or 529",
    )
    parser.add_argument("--api-key", help="accept only this key (default: any key)")
    parser.add_argument(
        "--seed", type=int, help="make generated ids repeatable (default: new ids every run)"
    )
    parser.add_argument(
        "--no-examples",
        action="store_true",
        help=f"do not create the example batch {EXAMPLE_BATCH_ID} the curl examples use",
    )
    parser.set_defaults(func=run_sandbox)


def add_examples(state: SandboxState) -> None:
    """Create the batch the seeds' curl examples name, so they run as written."""
    params = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    state.add_batch(
        [
            {"custom_id": "request-001", "params": params},
            {
                "custom_id": "request-002",
                "params": dict(
                    params, messages=[{"role": "user", "content": "Explain quantum computing."}]
                ),
            },
        ],
        batch_id=EXAMPLE_BATCH_ID,
    )


def run_sandbox(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on a clean stop, 2 for bad options or a busy port."""
    try:
        faults = FaultPlan.failing(args.fail_rate) if args.fail_rate else None
        if args.batch_seconds < 0:
            raise ConfigurationError(
                "--batch-seconds must not be negative", setting="--batch-seconds"
            )
        sock = listen_socket(args.host, args.port)
    except ConfigurationError as error:
        print(f"connector sandbox: {error}", file=sys.stderr)
        return 2
    # A fresh seed per run unless asked: a restarted sandbox must not hand out the ids of the
    # previous run, which an emitter's stored snapshot already knows as ended.
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    app = create_app(
        batch_seconds=args.batch_seconds, api_key=args.api_key, faults=faults, seed=seed
    )
    if not args.no_examples:
        add_examples(app.state.sandbox)
    host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    print(f"sandbox listening on {base_url} (API under /v1 and {SEED_PREFIX})", file=sys.stderr)
    print(f"  export ANTHROPIC_BASE_URL={base_url}", file=sys.stderr)
    print("  export ANTHROPIC_API_KEY=sk-sandbox   # any key works", file=sys.stderr)
    print("Ctrl-C to stop.", file=sys.stderr)
    quiet_dropped_connections()
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="none", http="h11", access_log=False
    )
    try:
        _ForegroundServer(config).run(sockets=[sock])
    finally:
        sock.close()
    print("sandbox stopped", file=sys.stderr)
    return 0


class _ForegroundServer(uvicorn.Server):
    """uvicorn, except that Ctrl-C or SIGTERM ends in a clean exit (code 0): uvicorn itself
    re-raises the signal after shutting down, which would kill the process instead."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        else:
            self.should_exit = True
