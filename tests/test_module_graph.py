"""The engine shell's modules import no circle (docs/architecture.md: no import circles):
read from the sources' import statements, those under ``TYPE_CHECKING`` and inside functions
included, since a lazy import is an arrow all the same."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "connector"
SHELL = {
    "connector.client",
    "connector.async_client",
    "connector.client_core",
    "connector.settings",
    "connector.bundled",
    "connector.requests",
    "connector.resolved_service",
    "connector.request_plans",
    "connector.responses",
    "connector.sync_transport",
    "connector.listing",
    "connector.pulls.fanout",
    "connector.pagination",
    "connector.pagination.walk",
    "connector.pagination.styles",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        arrows: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1] + (
                        [node.module] if node.module else []
                    )
                    target = ".".join(base)
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    arrows.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                arrows.update(a.name for a in node.names)
        graph[name] = {a for a in arrows if a in modules and a != name}
    return graph


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def test_no_shell_module_is_in_an_import_circle() -> None:
    graph = _graph()
    assert SHELL <= graph.keys()
    circles = sorted(name for name in SHELL if name in _reaches(graph, name))
    assert circles == []


def test_the_sync_shell_imports_neither_the_async_shell_nor_anyio() -> None:
    code = (
        "import sys, connector.client as c; from connector.client import Connector; "
        "print('connector.async_client' in sys.modules, 'anyio' in sys.modules); "
        "print(c.AsyncConnector.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["False", "False", "connector.async_client"]
