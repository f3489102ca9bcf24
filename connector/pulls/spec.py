"""The definition blocks of data pulls: ``incremental`` on a list operation, ``children`` on a
resource. :func:`check_pulls` compiles their selectors and checks their cross-references (an
operation that exists, a placeholder that is declared) at load, with every problem located.

Selectors here read the record as a pull emits it: shaped by the resource's ``fields`` when
it has any, the API's item otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic import Field as PydanticField

from ..selectors import Selector, SelectorSyntaxError
from ..types import JSON

if TYPE_CHECKING:
    from ..definitions import Connection, Resource

__all__ = ["Child", "ChildWhere", "Incremental", "check_pulls"]

SelectorSpec = list[str | int] | list[str] | str
CursorType = Literal["DateTime", "Integer", "Number", "String"]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_default=False, strict=True
    )


class Incremental(_Strict):
    """Extension: how a list operation is pulled incrementally.

    ``cursor`` selects the value that grows as records are added or changed (``created_at``,
    ``updated_at``, a sequence number); ``param`` names the operation's placeholder that asks
    the API for records since a value (none: filter on this side); ``lookback`` re-reads that
    much before the stored cursor for late arrivals (seconds for ``DateTime``), deduplicated
    by the resource's ``idField``; ``order`` says how the API sorts by the cursor (``desc``:
    the pull stops at the first record older than the window).
    """

    cursor: SelectorSpec
    type: CursorType = "DateTime"
    param: str | None = None
    lookback: Annotated[float, PydanticField(ge=0)] = 0
    order: Literal["asc", "desc", "none"] = "none"
    _cursor: Selector | None = PrivateAttr(default=None)

    @property
    def cursor_selector(self) -> Selector:
        """The compiled cursor selector."""
        assert self._cursor is not None
        return self._cursor


_COMPARE: dict[str, Callable[[JSON, JSON], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class ChildWhere(_Strict):
    """Which parents have children: the selected value compared with ``value``."""

    selector: SelectorSpec
    op: Literal["==", "!=", ">", ">=", "<", "<="] = "=="
    value: JSON = None
    _selector: Selector | None = PrivateAttr(default=None)

    def holds(self, record: JSON) -> bool:
        """Whether ``record`` satisfies the condition (an incomparable value does not)."""
        assert self._selector is not None
        try:
            return bool(_COMPARE[self.op](self._selector.select(record), self.value))
        except TypeError:
            return False


class Child(_Strict):
    """Extension: records fetched once per parent record (a batch's results, an issue's
    comments). ``params`` fills the child operation's placeholders from the parent record;
    ``parentKey`` is the key that carries the parent's id on each child record; ``idField``
    (optional) identifies a child among its parent's, for merge loads."""

    name: Annotated[str, PydanticField(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    handle: str | None = None
    """The child's resource (default: the parent's own)."""
    operation: str
    params: dict[str, SelectorSpec] = {}
    where: ChildWhere | None = None
    parent_key: str = PydanticField(default="parent_id", alias="parentKey")
    id_field: SelectorSpec | None = PydanticField(default=None, alias="idField")
    _params: dict[str, Selector] = PrivateAttr(default_factory=dict)
    _id: Selector | None = PrivateAttr(default=None)

    def child_params(self, parent: JSON) -> dict[str, JSON]:
        """The child operation's parameters for one parent record."""
        return {name: selector.select(parent) for name, selector in self._params.items()}

    @property
    def id_selector(self) -> Selector | None:
        """The compiled ``idField``, when given."""
        return self._id


Found = tuple[list[str | int], str, object]


class _Problems:
    def __init__(self) -> None:
        self.found: list[Found] = []

    def add(self, loc: list[str | int], message: str, found: object = None) -> None:
        self.found.append((loc, message, found))

    def selector(self, loc: list[str | int], spec: SelectorSpec) -> Selector | None:
        try:
            return Selector(spec)
        except SelectorSyntaxError as exc:
            self.add(loc, str(exc), spec)
            return None


def check_pulls(connection: Connection) -> list[Found]:
    """Compile the pull blocks' selectors and check what they refer to: (JSON location,
    message, found) for each problem."""
    problems = _Problems()
    by_handle = {r.handle: r for r in connection.resources}
    for r_index, resource in enumerate(connection.resources):
        loc: list[str | int] = ["resources", r_index]
        for name, operation in resource.operations.items():
            if operation.incremental is not None:
                _check_incremental(problems, [*loc, "operations", name], resource, name)
        seen: set[str] = set()
        for c_index, child in enumerate(resource.children):
            c_loc: list[str | int] = [*loc, "children", c_index]
            if child.name in seen:
                problems.add([*c_loc, "name"], "child declared twice", child.name)
            seen.add(child.name)
            _check_child(problems, c_loc, resource, child, by_handle)
    return problems.found


def _check_incremental(
    problems: _Problems, loc: list[str | int], resource: Resource, name: str
) -> None:
    operation = resource.operations[name]
    inc = operation.incremental
    assert inc is not None
    inc._cursor = problems.selector([*loc, "incremental", "cursor"], inc.cursor)
    if inc.param is None:
        return
    declared = {p.name for p in operation.placeholders()}
    if inc.param not in declared:
        problems.add(
            [*loc, "incremental", "param"],
            f"not a placeholder of {resource.handle}.{name} "
            f"(declared: {', '.join(sorted(declared)) or 'none'})",
            inc.param,
        )


def _check_child(
    problems: _Problems,
    loc: list[str | int],
    resource: Resource,
    child: Child,
    by_handle: dict[str, Resource],
) -> None:
    child._params = {}
    for param, spec in child.params.items():
        compiled = problems.selector([*loc, "params", param], spec)
        if compiled is not None:
            child._params[param] = compiled
    if child.id_field is not None:
        child._id = problems.selector([*loc, "idField"], child.id_field)
    if child.where is not None:
        child.where._selector = problems.selector([*loc, "where", "selector"], child.where.selector)
    target = by_handle.get(child.handle or resource.handle)
    if target is None:
        problems.add([*loc, "handle"], "no resource has this handle", child.handle)
        return
    operation = target.operations.get(child.operation)
    if operation is None:
        known = ", ".join(target.operations) or "none"
        problems.add(
            [*loc, "operation"],
            f"{target.handle} has no such operation (known: {known})",
            child.operation,
        )
        return
    if operation.method != "GET":
        problems.add([*loc, "operation"], "a child operation reads (GET)", child.operation)
    declared = {p.name for p in operation.placeholders()}
    for param in child.params:
        if param not in declared:
            problems.add(
                [*loc, "params", param],
                f"not a placeholder of {target.handle}.{child.operation} "
                f"(declared: {', '.join(sorted(declared)) or 'none'})",
                param,
            )
