"""The Node tools the interop tests run for real (installed by ``.ci/run`` from
``tools/node/package.json``: ``npm ci`` there). Outside CI a missing install skips the test with
the command to run; in CI (``CI=true``) it fails, so a broken install step cannot pass green."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tools" / "node"


def _missing(what: str) -> None:
    message = f"{what} is not installed: run `npm ci` in tools/node (needs Node.js 20+)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def node_bin(name: str) -> str:
    """The path of ``tools/node/node_modules/.bin/<name>``."""
    if shutil.which("node") is None:
        _missing("node")
    path = NODE_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        _missing(name)
    return str(path)


def node_package(name: str) -> Path:
    """The installed package directory ``tools/node/node_modules/<name>``."""
    if shutil.which("node") is None:
        _missing("node")
    path = NODE_DIR / "node_modules" / name
    if not path.exists():
        _missing(name)
    return path
