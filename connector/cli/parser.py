"""The command tree: global options, lazily loaded command modules, help that teaches and
mistakes that get a "did you mean".

Only the module of the command being run is imported (see :mod:`.registry`); the others are
listed in ``connector --help`` from the registry alone.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from rich_argparse import RawDescriptionRichHelpFormatter

from connector import __version__
from connector.cli.secret_files import add_secret_file
from connector.settings import DEFAULT_STATE

from .examples import EXAMPLES
from .registry import COMMANDS

__all__ = ["CommandParser", "HelpFormatter", "build_parser", "command_in"]

GLOBAL_OPTIONS = (
    "--definition",
    "--base-url",
    "--api-key",
    "--api-key-file",
    "--header",
    "--set",
    "--state",
    "--debug",
)
_TAKES_VALUE = frozenset(GLOBAL_OPTIONS) - {"--debug"}


class HelpFormatter(RawDescriptionRichHelpFormatter):
    """rich-argparse's help, examples kept as written, and every option's default shown
    (when it has a meaningful one and its help does not already say it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        meaningless = (
            default is None
            or default is False
            or default is argparse.SUPPRESS
            or (isinstance(default, list | str) and not default)
        )
        if (
            action.option_strings
            and not meaningless
            and "%(default)" not in text
            and "default" not in text
            and f"({default})" not in text
            and not isinstance(action, argparse._VersionAction)
        ):
            text += " (default: %(default)s)"
        return text


class CommandParser(argparse.ArgumentParser):
    """argparse, with rich help, suggestions for mistyped commands and options at the level
    they were typed, and a record of the deepest parser used (for those suggestions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if not hasattr(parsed, "_parser"):
            parsed._parser = self  # the innermost parser sets it first
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        choice = re.match(
            r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$", message
        )
        if choice:
            wanted = choice.group(2)
            known = re.findall(r"'([^']*)'", choice.group(3))
            message = f"unknown {choice.group(1).lower()} {wanted!r}{_suggest(wanted, known)}"
            if choice.group(1) == "COMMAND":
                message += f" (see {self.prog} --help)"
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def refuse_unknown(self, extras: Sequence[str]) -> NoReturn:
        """Refuse options this (sub)command does not have, suggesting the nearest."""
        known = [o for a in self._actions for o in a.option_strings if a.help != argparse.SUPPRESS]
        first = next((e for e in extras if e.startswith("-")), extras[0])
        self.error(
            f"unrecognized arguments: {' '.join(extras)}{_suggest(first.split('=')[0], known)}"
        )


def _suggest(wanted: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(wanted, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs (the first word that is not a global option or its value)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--":
            return None
        if token.startswith("-"):
            skip = token in _TAKES_VALUE
            continue
        return token
    return None


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"connector {__version__}")
    parser.add_argument(
        "--definition",
        default=os.environ.get("CONNECTOR_DEFINITION"),
        metavar="FILE",
        help="definition file (default: the bundled claude-api.json; env CONNECTOR_DEFINITION)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="API origin such as http://127.0.0.1:8080, as for the official SDK "
        "(env ANTHROPIC_BASE_URL; default https://api.anthropic.com)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help="API key (prefer env ANTHROPIC_API_KEY or --api-key-file: flags show in ps)",
    )
    add_secret_file(parser, "--api-key-file", dest="api_key", help="read the API key from FILE")
    parser.add_argument(
        "--header",
        action="append",
        metavar="'NAME: VALUE'",
        help="a header for every request (repeatable; env CONNECTOR_HEADERS, one per line)",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="a connection parameter (the definition's service.params; repeatable)",
    )
    parser.add_argument(
        "--state",
        default=os.environ.get("CONNECTOR_STATE") or DEFAULT_STATE,
        metavar="PATH",
        help="the emitter's store: a SQLite file (env CONNECTOR_STATE)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an unexpected error (env CONNECTOR_DEBUG=1)",
    )


def build_parser(command: str | None = "*") -> CommandParser:
    """The command tree. ``command`` names the one command whose module is loaded (``"*"``:
    all of them, for tests and documentation; ``None``: none, for ``connector --help``)."""
    parser = CommandParser(
        prog="connector",
        description="One JSON definition of an HTTP API: calls, synthetic webhooks, "
        "workflows, a sandbox.",
        epilog=EXAMPLES.get(""),
    )
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    wanted = set(COMMANDS) if command == "*" else {command} & set(COMMANDS)
    for module in dict.fromkeys(COMMANDS[name][0] for name in COMMANDS if name in wanted):
        before = set(sub.choices)
        importlib.import_module(module).add_commands(sub)
        for added in set(sub.choices) - before:
            _finish(sub.choices[added], added)
    for name, (_, help_text) in COMMANDS.items():
        if name not in sub.choices:
            # Listed in --help without importing its module; never run (not chosen).
            sub.add_parser(name, help=help_text, add_help=False)
    # The registry's order, whatever order the modules added their commands in.
    order = list(COMMANDS)
    sub._choices_actions.sort(key=lambda a: order.index(a.dest) if a.dest in order else 99)
    _accept_global_options_anywhere(parser, sub)
    return parser


def _finish(parser: argparse.ArgumentParser, path: str) -> None:
    """Examples into each (sub)command's help, and the rich formatter everywhere."""
    parser.formatter_class = HelpFormatter
    if parser.epilog is None and path in EXAMPLES:
        parser.epilog = EXAMPLES[path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                _finish(child, f"{path} {name}")


def _accept_global_options_anywhere(
    parser: argparse.ArgumentParser, sub: argparse._SubParsersAction[Any]
) -> None:
    """Let ``connector call ... --base-url X`` work as well as ``connector --base-url X call ...``.

    Each command (and sub-command) gets the global options with a suppressed default, so a
    value given after the command wins and an absent one leaves the top-level value alone.
    A command that defines one of them itself (``sandbox --api-key``) keeps its own meaning.
    """
    globals_ = {
        a.option_strings[0]: a
        for a in parser._actions
        if a.option_strings and a.option_strings[0] in GLOBAL_OPTIONS
    }
    pending = list(sub.choices.values())
    while pending:
        command = pending.pop()
        for option, action in globals_.items():
            if option in command._option_string_actions:
                continue
            kind: type[argparse.Action] | str
            if option == "--api-key-file":
                kind = type(action)
            elif option == "--debug":
                kind = "store_true"
            else:
                kind = "append" if isinstance(action, argparse._AppendAction) else "store"
            command.add_argument(
                option,
                dest=action.dest,
                action=kind,
                default=argparse.SUPPRESS,
                help=argparse.SUPPRESS,
            )
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
