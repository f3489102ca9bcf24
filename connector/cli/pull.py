"""``connector pull``: a list operation across all its pages, to stdout, a file or a database.

::

    connector pull message_batches --incremental          # only what is new since last time
    connector pull message_batches --with results         # each ended batch's results
    connector pull files --output parquet --out files.parquet
    connector pull message_batches --to duckdb:///batches.duckdb
"""

from __future__ import annotations

import argparse
import sys

from connector.cli.options import open_connector
from connector.errors import InputError, InputProblem
from connector.pulls.fanout import DEFAULT_CONCURRENCY
from connector.pulls.outputs import FORMATS, write_records
from connector.pulls.pull import PAGE_CAP, Pull
from connector.pulls.state import PullStateStore

__all__ = ["add_commands", "cmd_pull"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pull`` to the CLI."""
    p = subparsers.add_parser(
        "pull",
        help="a list operation across all pages (incremental, with children, into a database)",
        description="Read every record of a list operation, page after page, and write them "
        "as JSONL, CSV, JSON or Parquet, or load them into a dlt destination (--to).",
    )
    p.add_argument("handle", help="the resource (message_batches, files, ...)")
    p.add_argument("--operation", default="list", help="the list operation (list)")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="a placeholder value"
    )
    p.add_argument("--max-items", type=int, metavar="N", help="stop after N records")
    p.add_argument(
        "--max-pages",
        type=int,
        metavar="N",
        help=f"stop after N pages (a pull past {PAGE_CAP:,} pages fails instead)",
    )
    p.add_argument("--raw", action="store_true", help="the API's items instead of the fields")
    p.add_argument("--output", choices=FORMATS, help="jsonl (default), csv, json or parquet")
    p.add_argument("--out", metavar="FILE", help="write to FILE (replaced whole, atomically)")
    p.add_argument(
        "--incremental",
        action="store_true",
        help="only records newer than the stored cursor (the operation's 'incremental' block); "
        "the cursor is kept in --state once the output is written",
    )
    p.add_argument(
        "--full-refresh", action="store_true", help="forget the stored cursor and read everything"
    )
    p.add_argument(
        "--with",
        dest="with_",
        metavar="CHILD",
        help="the children of each record instead (a child the resource declares: results)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"parents whose children are fetched at once ({DEFAULT_CONCURRENCY})",
    )
    p.add_argument(
        "--to",
        metavar="DESTINATION",
        help="load into a dlt destination instead: duckdb:///path.duckdb, or a dlt destination "
        "name configured the dlt way (needs pip install 'connector[dlt]')",
    )
    p.add_argument("--pipeline", metavar="NAME", help="dlt pipeline name (connector_<handle>)")
    p.add_argument("--dataset", metavar="NAME", help="dlt dataset (schema) name (the definition's)")
    p.set_defaults(func=cmd_pull)


def cmd_pull(args: argparse.Namespace) -> int:
    """Run one pull; the checkpoint is stored only after the output is safely written."""
    from connector.cli.calls import parse_params

    params = parse_params(args.param or [])
    if args.to:
        from connector.pulls.dlt_source import run_pipeline

        if args.out or args.output or args.raw:
            option = "--out" if args.out else "--output" if args.output else "--raw"
            raise InputError(
                [InputProblem(option, "--to loads into a destination; drop " + option, None)]
            )

        with open_connector(args) as api:
            summary = run_pipeline(
                api,
                args.handle,
                args.to,
                operation=args.operation,
                params=params,
                incremental=args.incremental,
                full_refresh=args.full_refresh,
                with_=args.with_,
                concurrency=args.concurrency,
                pipeline_name=args.pipeline,
                dataset_name=args.dataset,
                max_items=args.max_items,
            )
        print(summary, file=sys.stderr)
        return 0
    from connector.cli.output import is_terminal, plural
    from connector.cli.output import write_records as show_records

    on_screen = not args.out and not args.output and is_terminal()
    output = args.output or ("parquet" if (args.out or "").endswith(".parquet") else "jsonl")
    incremental = args.incremental or args.full_refresh
    store = PullStateStore(args.state) if incremental else None
    with open_connector(args) as api:
        pull = Pull(
            api,
            args.handle,
            args.operation,
            params,
            raw=args.raw,
            max_items=args.max_items,
            incremental=incremental,
            full_refresh=args.full_refresh,
            store=store,
            with_=args.with_,
            concurrency=args.concurrency,
            max_pages=args.max_pages,
        )
        if on_screen:  # a person reads: a table that fits the terminal
            count = show_records(pull.records(), "table", sys.stdout)
        else:
            count = write_records(pull.records(), output, args.out, columns=pull.columns())
        pull.commit()
    what = plural(count, args.with_ or args.handle) + (f" of {args.handle}" if args.with_ else "")
    print(what, file=sys.stderr)
    if pull.truncated and pull.listing is not None:
        # A page cap is never a silent truncation: asked for (--max-pages) it is reported,
        # the safety cap reached is a failure; either way no checkpoint is stored.
        print(
            f"connector pull: stopped after {pull.listing.pages_read} page(s), more remain"
            + ("" if args.max_pages else "; the safety cap: pass --max-pages to allow more"),
            file=sys.stderr,
        )
        return 0 if args.max_pages else 1
    return 0
