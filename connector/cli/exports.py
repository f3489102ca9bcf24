"""``connector asyncapi`` and ``connector openapi``: documents generated from a definition
(built by :mod:`connector.asyncapi` and :mod:`connector.openapi`)."""

from __future__ import annotations

import argparse
import json

from connector.asyncapi import webhooks_asyncapi
from connector.openapi import render_openapi

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connector asyncapi`` and ``connector openapi``."""
    add_asyncapi(subparsers)
    add_openapi(subparsers)


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from connector.cli.options import load_configured_definition

    document = json.dumps(webhooks_asyncapi(load_configured_definition(args)), indent=2) + "\n"
    from connector.output_files import write_document

    write_document(document, args.out)
    return 0


def add_asyncapi(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connector asyncapi``."""
    parser = subparsers.add_parser(
        "asyncapi", help="an AsyncAPI 3.1 document of the webhooks, for subscribers"
    )
    parser.add_argument(
        "--out", metavar="FILE", help="write the document to FILE (default: stdout)"
    )
    parser.set_defaults(func=cmd_asyncapi)


def cmd_openapi(args: argparse.Namespace) -> int:
    from connector.cli.options import load_configured_definition

    definition = load_configured_definition(args)
    text = render_openapi(definition, args.format, base_url=getattr(args, "base_url", None))
    from connector.output_files import write_document

    write_document(text, args.out)
    return 0


def add_openapi(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connector openapi``."""
    parser = subparsers.add_parser(
        "openapi", help="an OpenAPI 3.1 description of the definition's operations"
    )
    parser.add_argument(
        "--format", choices=("yaml", "json"), default="yaml", help="the document's syntax"
    )
    parser.add_argument(
        "--out", metavar="FILE", help="write the document to FILE (default: stdout)"
    )
    parser.set_defaults(func=cmd_openapi)
