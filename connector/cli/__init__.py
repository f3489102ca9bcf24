"""The command line (``docs/cli.md``): thin, calls the library.

One home for the CLI: :mod:`.main` parses and maps errors through the one exit-code table
(:mod:`.exits`); :mod:`.output` draws everything (rich tables, JSON, progress, waits);
:mod:`.registry` lists which module brings which command, loaded only when that command runs;
:mod:`.describe`, :mod:`.calls`, :mod:`.engine`, :mod:`.pull`, :mod:`.sandbox`,
:mod:`.workflow`, :mod:`.events`, :mod:`.store`, :mod:`.receive` and :mod:`.serve` are the
command groups (each an ``add_commands(subparsers)`` module listed in the registry; parsing
and presentation only, the work is the library's).

Exit codes: 0 success; 1 the upstream API or a subscriber failed; 2 bad usage, bad
definition or bad input. Machine output goes to stdout, messages and progress to stderr.
"""

from __future__ import annotations

from typing import Any

from .main import main
from .parser import build_parser

__all__ = ["build_parser", "main", "parse_params"]


def __getattr__(name: str) -> Any:
    # ``parse_params`` (-p NAME=VALUE) is shared with the parts' commands (pull); imported on
    # use so that ``connector --help`` does not load the engine's command group.
    if name == "parse_params":
        from .calls import parse_params

        return parse_params
    raise AttributeError(f"module 'connector.cli' has no attribute {name!r}")
