"""``connector demo``: the whole flow on an in-process sandbox (the flow is :mod:`connector.demo`)."""

from __future__ import annotations

import argparse

from connector.demo import run_demo

__all__ = ["add_commands"]


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(batch_seconds=args.batch_seconds, webhooks=not args.no_webhooks)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connector demo``."""
    p = subparsers.add_parser(
        "demo", help="the whole flow on an in-process sandbox: no key, no set-up"
    )
    p.add_argument(
        "--batch-seconds", type=float, default=3.0, help="how long the sandbox takes per batch"
    )
    p.add_argument("--no-webhooks", action="store_true", help="skip the webhook part")
    p.set_defaults(func=cmd_demo)
