"""The value types of command-line options: what argparse checks before a command runs, with
a message that says what was expected."""

from __future__ import annotations

import argparse

__all__ = ["port", "positive", "whole"]


def positive(text: str) -> float:
    """An argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def whole(text: str) -> int:
    """An argparse type: a whole number from 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number from 1: {text!r}")
    return int(text)


def port(text: str) -> int:
    """An argparse type: a TCP port from 0 (any free port) to 65535."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port from 0 to 65535: {text!r}")
    return int(text)
