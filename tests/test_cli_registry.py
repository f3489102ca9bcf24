"""The CLI's command registry, lazy loading and help (issue 13 items 4 and 9, issue 11 item 1)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.cli.examples import EXAMPLES
from connector.cli.parser import CommandParser, build_parser
from connector.cli.registry import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("aiohttp", "starlette", "uvicorn", "yaml", "httpx", "jinja2", "pydantic", "cryptography")


def _commands_of(module: str) -> dict[str, str | None]:
    parser = CommandParser(prog="x")
    sub = parser.add_subparsers(parser_class=CommandParser)
    importlib.import_module(module).add_commands(sub)
    return {a.dest: a.help for a in sub._choices_actions}


def test_the_registry_and_the_modules_agree() -> None:
    registered: dict[str, str | None] = {}
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        for name, help_text in _commands_of(module).items():
            assert COMMANDS.get(name, ("?", ""))[0] == module, f"{name} is not in the registry"
            registered[name] = help_text
    assert set(registered) == set(COMMANDS)
    assert {n: h for n, (_, h) in COMMANDS.items()} == registered


def _walk(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, CommandParser]]:
    assert isinstance(parser, CommandParser)
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, f"{path} {name}".strip())


def test_every_option_has_help_and_every_command_examples() -> None:
    missing_help = []
    missing_examples = []
    for path, parser in _walk(build_parser()):
        leaf = not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if leaf and not (parser.epilog or "").startswith("examples:"):
            missing_examples.append(path)
        for action in parser._actions:
            if action.help is None and not isinstance(action, argparse._SubParsersAction):
                missing_help.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing_help == []
    assert missing_examples == []
    assert set(EXAMPLES) >= {p for p, _ in _walk(build_parser()) if p}


def _python(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "ANTHROPIC_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


_IMPORTED = """
import contextlib, io, json, sys
from connector.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""


def test_help_imports_no_heavy_library() -> None:
    imported = set(json.loads(_python(_IMPORTED.format(argv=["--help"]))))
    assert imported.isdisjoint(HEAVY), imported & set(HEAVY)


def test_describe_and_validate_import_no_server_delivery_or_http_library() -> None:
    # Loading a definition needs no HTTP client: httpx (and the click/rich CLI it imports)
    # comes in only with a call.
    heavy = {"aiohttp", "starlette", "uvicorn", "yaml", "httpx", "httpcore", "click"}
    for argv in (["describe", "--json"], ["validate", "definitions/claude-api.json"]):
        imported = set(json.loads(_python(_IMPORTED.format(argv=argv))))
        assert imported.isdisjoint(heavy), (argv, imported & heavy)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "ANTHROPIC_"))}
    return subprocess.run(
        [sys.executable, "-m", "connector", *argv],
        capture_output=True,
        text=True,
        env=env | {"NO_COLOR": "1"},
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("argv", "usage", "suggestion"),
    [
        (["call", "models", "list", "--ouptut", "json"], "connector call", "'--output'"),
        (
            ["batch", "run", "r.jsonl", "--poll-intervall", "3"],
            "connector batch run",
            "'--poll-interval'",
        ),
        (
            ["subscriptions", "add", "http://x", "--alow-private"],
            "connector subscriptions add",
            "'--allow-private'",
        ),
        (["decribe"], "connector", "'describe'"),
        (["subscriptions", "ad", "http://x"], "connector subscriptions", "'add'"),
    ],
)
def test_a_typo_gets_the_nearest_at_its_own_level(
    argv: list[str], usage: str, suggestion: str
) -> None:
    done = _cli(*argv)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith(f"usage: {usage}") or done.stderr.startswith(
        f"Usage: {usage}"
    ), done.stderr
    assert f"did you mean {suggestion}?" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_shows_defaults_and_examples() -> None:
    done = _cli("batch", "run", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "(default: 10.0)" in text and "(default: results.jsonl)" in text
    assert "examples:" in text and "connector batch run requests.jsonl" in text
    assert "custom_id" in text  # the JSONL line format is described
