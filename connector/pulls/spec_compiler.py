"""The load-time pass over the data pull blocks (:mod:`connector.pulls.spec`): compile their
selectors, check what they refer to (an operation that exists, a placeholder that is
declared), and return the compiled parts with every problem located.

Kept apart from the models so that the models import nothing that reads a connection
(no import circle: the definition models import :mod:`connector.pulls.spec`, this module
imports the definition models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from ..compiled import CompiledChild
from ..models import Connection, Resource
from ..selectors import Selector, SelectorSyntaxError
from ..trigger_rules import CompiledCondition
from .spec import Child, SelectorSpec

__all__ = ["CompiledPulls", "Found", "compile_pulls"]

Found = tuple[list[str | int], str, object]


@dataclass
class CompiledPulls:
    """What :func:`compile_pulls` found: each incremental cursor by (handle, operation), each
    resource's children in order, and the problems."""

    cursors: dict[tuple[str, str], Selector] = field(default_factory=dict)
    children: dict[str, list[CompiledChild | None]] = field(default_factory=dict)
    found: list[Found] = field(default_factory=list)

    def add(self, loc: list[str | int], message: str, found: object = None) -> None:
        self.found.append((loc, message, found))

    def selector(self, loc: list[str | int], spec: SelectorSpec) -> Selector | None:
        try:
            return Selector(spec)
        except SelectorSyntaxError as exc:
            self.add(loc, str(exc), spec)
            return None


def compile_pulls(connection: Connection) -> CompiledPulls:
    """Compile the pull blocks' selectors and check what they refer to."""
    pulls = CompiledPulls()
    by_handle = {r.handle: r for r in connection.resources}
    for r_index, resource in enumerate(connection.resources):
        loc: list[str | int] = ["resources", r_index]
        for name, operation in resource.operations.items():
            if operation.incremental is not None:
                _incremental(pulls, [*loc, "operations", name], resource, name)
        seen: set[str] = set()
        compiled: list[CompiledChild | None] = []
        for c_index, child in enumerate(resource.children):
            c_loc: list[str | int] = [*loc, "children", c_index]
            if child.name in seen:
                pulls.add([*c_loc, "name"], "child declared twice", child.name)
            seen.add(child.name)
            compiled.append(_child(pulls, c_loc, resource, child, by_handle))
        pulls.children[resource.handle] = compiled
    return pulls


def _incremental(pulls: CompiledPulls, loc: list[str | int], resource: Resource, name: str) -> None:
    operation = resource.operations[name]
    inc = operation.incremental
    assert inc is not None
    cursor = pulls.selector([*loc, "incremental", "cursor"], inc.cursor)
    if cursor is not None:
        pulls.cursors[resource.handle, name] = cursor
    if inc.param is None:
        return
    declared = {p.name for p in operation.placeholders()}
    if inc.param not in declared:
        pulls.add(
            [*loc, "incremental", "param"],
            f"not a placeholder of {resource.handle}.{name} "
            f"(declared: {', '.join(sorted(declared)) or 'none'})",
            inc.param,
        )


def _child(
    pulls: CompiledPulls,
    loc: list[str | int],
    resource: Resource,
    child: Child,
    by_handle: dict[str, Resource],
) -> CompiledChild | None:
    params: dict[str, Selector] = {}
    broken = False
    for param, spec in child.params.items():
        compiled = pulls.selector([*loc, "params", param], spec)
        if compiled is not None:
            params[param] = compiled
        broken |= compiled is None
    id_selector = None
    if child.id_field is not None:
        id_selector = pulls.selector([*loc, "idField"], child.id_field)
        broken |= id_selector is None
    where = None
    if child.where is not None:
        selector = pulls.selector([*loc, "where", "selector"], child.where.selector)
        if selector is None:
            broken = True
        else:
            where = CompiledCondition(child.where.op, child.where.value, selector)
    _check_target(pulls, loc, resource, child, by_handle)
    if broken:
        return None
    return CompiledChild(MappingProxyType(params), id_selector, where)


def _check_target(
    pulls: CompiledPulls,
    loc: list[str | int],
    resource: Resource,
    child: Child,
    by_handle: dict[str, Resource],
) -> None:
    target = by_handle.get(child.handle or resource.handle)
    if target is None:
        pulls.add([*loc, "handle"], "no resource has this handle", child.handle)
        return
    operation = target.operations.get(child.operation)
    if operation is None:
        known = ", ".join(target.operations) or "none"
        pulls.add(
            [*loc, "operation"],
            f"{target.handle} has no such operation (known: {known})",
            child.operation,
        )
        return
    if operation.method != "GET":
        pulls.add([*loc, "operation"], "a child operation reads (GET)", child.operation)
    declared = {p.name for p in operation.placeholders()}
    for param in child.params:
        if param not in declared:
            pulls.add(
                [*loc, "params", param],
                f"not a placeholder of {target.handle}.{child.operation} "
                f"(declared: {', '.join(sorted(declared)) or 'none'})",
                param,
            )
