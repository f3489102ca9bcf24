"""``connector``: parse, run the chosen command, turn any error into one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .exits import USAGE, report
from .parser import CommandParser, build_parser, command_in

__all__ = ["main"]


def _debugging(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("CONNECTOR_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (:mod:`.exits`). No input gives a
    traceback: errors are one line; an internal error names itself and points to
    ``--debug`` / ``CONNECTOR_DEBUG=1`` for the traceback."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        # Arguments that are not UTF-8 arrive as lone surrogates: print them escaped.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser(command_in(arguments))
    args, extras = parser.parse_known_args(arguments)
    if extras:
        target = getattr(args, "_parser", parser)
        (target if isinstance(target, CommandParser) else parser).refuse_unknown(extras)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        code: int = func(args)
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours.
        sys.stderr.close()
        return 0
    except BaseException as error:
        if isinstance(error, SystemExit):
            raise
        if _debugging(arguments) and not isinstance(error, KeyboardInterrupt):
            raise
        return report(error)
