"""Compile at load means compile once: the compiler returns frozen compiled objects, writes
nothing into the models, compiles each template and selector once, and nothing compiles
again at run time; the definition layer has no import circle."""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from emitter_support import MODEL, Sandbox, create_batch, upload_file
from pydantic import BaseModel

from connector import selectors, templates
from connector.client import AsyncConnector
from connector.compiled import CompiledConnection
from connector.compiler import compile_connection
from connector.config import bundled_definition_path
from connector.conventions import packaged_service
from connector.definitions import Connection, Definition, load_definition
from connector.emitter.guard import Guard
from connector.emitter.poller import Poller
from connector.emitter.store_sqlite import SQLiteStore
from connector.errors import DefinitionError
from connector.openapi import definition_openapi
from connector.pagination.walk import _SELECTOR_ATTRS
from connector.selectors import Selector

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = bundled_definition_path()


@dataclasses.dataclass
class Compiles:
    """What was compiled while counting: template texts and selector specs."""

    templates: Counter[str] = dataclasses.field(default_factory=Counter)
    selectors: Counter[str] = dataclasses.field(default_factory=Counter)

    def clear(self) -> None:
        self.templates.clear()
        self.selectors.clear()


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Compiles]:
    """Count every call of ``compile_template`` (through every module that imported it, past
    its cache) and every Selector built."""
    seen = Compiles()
    original = templates.compile_template
    templates.compile_template.cache_clear()
    selectors._parse.cache_clear()

    def compile_template(source: str, mode: templates.Mode) -> templates.CompiledTemplate:
        seen.templates[source] += 1
        return original(source, mode)

    for name, module in list(sys.modules.items()):
        if name.startswith("connector") and getattr(module, "compile_template", None) is original:
            monkeypatch.setattr(module, "compile_template", compile_template)
    init = Selector.__init__

    def selector_init(self: Selector, spec: Any) -> None:
        seen.selectors[json.dumps(spec)] += 1
        init(self, spec)

    monkeypatch.setattr(Selector, "__init__", selector_init)
    yield seen


def _template_count(connection: Connection) -> int:
    """How many templates the document holds (each counted where it is written)."""
    count = 0
    service = connection.service
    if service is not None:
        count += 1 + len(service.headers) + len(service.auth.params)
        count += service.probe is not None
    for resource in connection.resources:
        count += 1  # the endpoint
        if resource.operations and resource.headers is not None:
            count += len(resource.headers.value)  # once per resource, not once per operation
        for operation in resource.operations.values():
            count += 1 + (operation.body_template is not None)
            for template_map in (operation.query_params, operation.headers):
                count += len(template_map.value) if template_map is not None else 0
    return count


def _selector_count(connection: Connection) -> int:
    """How many selectors the conventions, the resources and their webhooks, operations and
    children hold."""
    count = 0
    if connection.service is not None:
        conventions = connection.service.conventions
        count += len(conventions.errors.message) + len(conventions.errors.type)
        count += conventions.errors.details is not None
        count += conventions.records is not None
        count += conventions.delete_receipt is not None
    for resource in connection.resources:
        count += len(resource.fields) + 1  # and the idField
        for webhook in resource.webhooks:
            count += len(webhook.payload)
            trigger = webhook.trigger
            if trigger is not None:
                count += sum(x is not None for x in (trigger.selector, trigger.where, trigger.time))
        for operation in resource.operations.values():
            count += operation.records is not None
            count += len(operation.response_map or {})
            count += operation.incremental is not None
            if operation.pagination is not None:
                attrs = _SELECTOR_ATTRS.values()
                count += sum(getattr(operation.pagination, a, None) is not None for a in attrs)
        for child in resource.children:
            count += len(child.params) + (child.id_field is not None) + (child.where is not None)
    return count


def _validated(path: Path) -> Connection:
    return Connection.model_validate(json.loads(path.read_text()))


def _models(value: object) -> Iterator[BaseModel]:
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _models(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _models(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _models(item)


@pytest.mark.parametrize(
    "path",
    [SHIPPED, ROOT / "definitions/examples/github-issues.json"],
    ids=["claude-api", "github-issues"],
)
def test_the_compiler_compiles_each_template_and_selector_once(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = _validated(path)
    with counting(monkeypatch) as seen:
        compiled, problems = compile_connection(connection, bare=False)
    assert problems == [] and compiled is not None
    assert sum(seen.templates.values()) == _template_count(connection)
    assert sum(seen.selectors.values()) == _selector_count(connection)


def test_the_compiler_writes_nothing_into_the_models() -> None:
    connection = _validated(SHIPPED)
    compiled, _ = compile_connection(connection, bare=False)
    assert isinstance(compiled, CompiledConnection)
    models = list(_models(connection))
    assert len(models) > 100
    for model in models:
        private = model.__pydantic_private__ or {}
        assert all(value is None for value in private.values()), type(model).__name__


def _frozen(value: object) -> Iterator[object]:
    """Every compiled object reachable from ``value`` (dataclasses and their mappings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for field in dataclasses.fields(value):
            yield from _frozen(getattr(value, field.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from _frozen(item)
    elif hasattr(value, "items") and not isinstance(value, dict):
        yield value
        for item in value.values():  # type: ignore[attr-defined]
            yield from _frozen(item)


def test_compiled_objects_are_frozen() -> None:
    definition = load_definition(SHIPPED)
    found = list(_frozen(definition.compiled))
    kinds = {type(x).__name__ for x in found}
    assert {"CompiledResource", "CompiledOperation", "RequestPlan", "Rule"} <= kinds
    assert {"CompiledWebhook", "CompiledService", "mappingproxy"} <= kinds
    for value in found:
        if dataclasses.is_dataclass(value):
            name = dataclasses.fields(value)[0].name
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(value, name, None)
        else:
            with pytest.raises(TypeError):
                value["x"] = None  # type: ignore[index]
    operation = definition.resource("message_batches").operation("list")
    assert operation.compiled is definition.compiled.resources["message_batches"].operations["list"]
    assert (operation.name, operation.handle) == ("list", "message_batches")
    assert operation.paginator is operation.compiled.paginator is not None


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_nothing_compiles_again_at_run_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Calls, listings, polls (with their trigger rules) and exports read what loading
    compiled: not one template or selector is compiled after the load."""
    definition = load_definition(SHIPPED)
    sandbox = Sandbox()
    packaged_service()  # the sandbox's own conventions: compiled once per process, on first use
    store = SQLiteStore(tmp_path / "s.db", clock=sandbox.now, guard=Guard(allow_private=True))
    with store, counting(monkeypatch) as seen:
        api = AsyncConnector(
            definition,
            base_url="http://sandbox.test",
            api_key="k",
            transport=httpx.ASGITransport(app=sandbox.app),
            max_retries=0,
        )
        async with api:
            pollers = [
                Poller(api, store, h, clock=sandbox.now) for h in ("message_batches", "files")
            ]
            for poller in pollers:
                await poller.poll()
            await create_batch(api)
            await upload_file(api, tmp_path)
            sandbox.clock.advance(3)
            for poller in pollers:
                assert (await poller.poll()).events  # created, ended: the rules ran
            assert await api.call("models", "list", {})
            assert [r async for r in api.iterate("message_batches", "list", {"limit": 1})]
            await api.call("messages", "count_tokens", {"model": MODEL, "content": "hi"})
        definition_openapi(definition)
    assert seen.templates == Counter()
    assert seen.selectors == Counter()


# --- the module graph ---------------------------------------------------------------------

KNOWN_CIRCLES: list[set[str]] = []
"""Circles other work is still breaking (none left): any circle not listed fails the test."""


def _module_graph() -> dict[str, set[str]]:
    """connector's modules and the modules each imports, anywhere in it (function bodies
    and ``if TYPE_CHECKING:`` blocks included). ``from a import b`` imports module ``a.b``
    when there is one, else ``a``."""
    package = ROOT / "connector"
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        graph[name].add(sub)
                    elif target in modules:
                        graph[name].add(target)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                other = stack.pop()
                component.add(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_module_graph_of_connector_has_no_circle() -> None:
    graph = _module_graph()
    assert "connector.models" in graph["connector.compiler"]
    assert "connector.definition_parts" in graph["connector.placeholders"]  # TYPE_CHECKING
    circles = [{m.removeprefix("connector.") for m in c} for c in _circles(graph)]
    definition_layer = {
        "compiler",
        "definitions",
        "models",
        "multistep",
        "placeholders",
        "pulls.spec",
        "compiled",
        "workflows.checks",
        "workflows.criteria",
        "workflows.document",
    }
    assert all(not (c & definition_layer) for c in circles), circles
    assert sorted(map(sorted, circles)) == sorted(map(sorted, KNOWN_CIRCLES))


def test_the_circle_finder_finds_a_circle_through_a_type_checking_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [{"a", "b", "c"}]


def test_a_definition_still_loads_from_the_module_it_always_did() -> None:
    definition = load_definition(SHIPPED)
    assert isinstance(definition, Definition)
    assert definition.resource("files").compiled.rules[0].kind == "created"


def _multistep(output_selector: object) -> dict[str, Any]:
    step = {"type": "http", "http": {"method": "GET", "path": "/contacts"}}
    return {
        "handle": "crm",
        "service": {"baseURL": "http://api.test"},
        "resources": [{"handle": "contacts", "endpoint": "/contacts"}],
        "operations": [
            {
                "handle": "first_contact",
                "output": [{"name": "id", "selector": output_selector}],
                "steps": [step],
            }
        ],
    }


def test_a_multi_step_output_selector_compiles_at_load_and_is_refused_there() -> None:
    definition = load_definition(_multistep(["data", 0, "id"]))
    (selector,) = definition.multistep("first_contact").compiled.outputs
    assert selector is not None and selector.select({"data": [{"id": "c1"}]}) == "c1"
    with pytest.raises(DefinitionError) as caught:
        load_definition(_multistep("$.data[?(@.id =~ 'c.*')]"))
    assert caught.value.problems[0].location.endswith("operations[0].output[0].selector")


def test_a_broken_conventions_selector_is_a_located_load_error() -> None:
    conventions = {"errors": {"message": [["error", "message"], "$[?(@.a =~ 'x')]"]}}
    document = {
        "service": {"baseURL": "http://api.test", "conventions": conventions},
        "resources": [],
    }
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    (problem,) = caught.value.problems
    assert problem.location.endswith("service.conventions.errors.message[1]")


def test_a_model_made_by_hand_has_no_compiled_part_and_says_how_to_get_one() -> None:
    from connector.errors import ConfigurationError
    from connector.models import Operation

    operation = Operation.model_validate({"method": "GET", "path": "/x"})
    with pytest.raises(ConfigurationError, match="load_definition"):
        operation.compiled  # noqa: B018
    with pytest.raises(ConfigurationError, match="not part of a loaded definition"):
        operation.name  # noqa: B018
