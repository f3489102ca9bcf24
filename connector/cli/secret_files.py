"""Secrets from files and the environment instead of flags (flags show in ``ps``).

``--api-key-file FILE``, ``--secret-file FILE`` (``-`` reads stdin) fill the same setting as
the flag they stand for; the file's surrounding whitespace is ignored, and for a repeatable
secret (``receive --secret`` during a rotation) each non-empty line is one secret::

    add_secret_file(parser, "--secret-file", dest="secret", repeatable=True)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["add_secret_file", "read_secret_file"]


def read_secret_file(path: str, option: str) -> list[str]:
    """The non-empty lines of ``path`` (``-``: stdin); an unreadable or empty file is an
    ``argparse.ArgumentError``-worthy message raised as ``ValueError``."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ValueError(f"cannot read {path!r}: {reason}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path!r} is empty")
    return lines


class _SecretFile(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.repeatable: bool = kwargs.pop("repeatable", False)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        try:
            lines = read_secret_file(str(values), option_string or self.dest)
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        if self.repeatable:
            current = list(getattr(namespace, self.dest, None) or [])
            setattr(namespace, self.dest, current + lines)
        else:
            setattr(namespace, self.dest, lines[0])


def add_secret_file(
    parser: argparse.ArgumentParser,
    option: str,
    *,
    dest: str,
    repeatable: bool = False,
    help: str | None = None,
) -> None:
    """Add ``option FILE`` that reads the secret for ``dest`` from a file (``-``: stdin)."""
    parser.add_argument(
        option,
        dest=dest,
        action=_SecretFile,
        repeatable=repeatable,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help=help or f"read the {dest.replace('_', ' ')} from FILE ('-': stdin), kept out of ps",
    )
