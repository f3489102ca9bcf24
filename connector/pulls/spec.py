"""The definition blocks of data pulls: ``incremental`` on a list operation, ``children`` on a
resource. Selectors compile when the model validates; cross-references (an operation that
exists, a placeholder that is declared) are checked by :func:`check_pulls` at load.

Selectors here read the record as a pull emits it: shaped by the resource's ``fields`` when
it has any, the API's item otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator
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


def _compile(spec: SelectorSpec, key: str) -> Selector:
    try:
        return Selector(spec)
    except SelectorSyntaxError as exc:
        raise ValueError(f"{key}: {exc}") from None


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

    @model_validator(mode="after")
    def _compile_cursor(self) -> Incremental:
        self._cursor = _compile(self.cursor, "cursor")
        return self

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

    @model_validator(mode="after")
    def _compile_selector(self) -> ChildWhere:
        self._selector = _compile(self.selector, "selector")
        return self

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

    @model_validator(mode="after")
    def _compile_selectors(self) -> Child:
        self._params = {
            name: _compile(spec, f"params.{name}") for name, spec in self.params.items()
        }
        if self.id_field is not None:
            self._id = _compile(self.id_field, "idField")
        return self

    def child_params(self, parent: JSON) -> dict[str, JSON]:
        """The child operation's parameters for one parent record."""
        return {name: selector.select(parent) for name, selector in self._params.items()}

    @property
    def id_selector(self) -> Selector | None:
        """The compiled ``idField``, when given."""
        return self._id


def check_pulls(connection: Connection) -> list[tuple[list[str | int], str, object]]:
    """Cross-references of the pull blocks: (JSON location, message, found) for each problem."""
    problems: list[tuple[list[str | int], str, object]] = []
    by_handle = {r.handle: r for r in connection.resources}
    for r_index, resource in enumerate(connection.resources):
        loc: list[str | int] = ["resources", r_index]
        for name, operation in resource.operations.items():
            inc = operation.incremental
            if inc is None or inc.param is None:
                continue
            declared = {p.name for p in operation.placeholders()}
            if inc.param not in declared:
                problems.append(
                    (
                        [*loc, "operations", name, "incremental", "param"],
                        f"not a placeholder of {resource.handle}.{name} "
                        f"(declared: {', '.join(sorted(declared)) or 'none'})",
                        inc.param,
                    )
                )
        seen: set[str] = set()
        for c_index, child in enumerate(resource.children):
            c_loc: list[str | int] = [*loc, "children", c_index]
            if child.name in seen:
                problems.append(([*c_loc, "name"], "child declared twice", child.name))
            seen.add(child.name)
            target: Resource | None = by_handle.get(child.handle or resource.handle)
            if target is None:
                problems.append(([*c_loc, "handle"], "no resource has this handle", child.handle))
                continue
            operation_ = target.operations.get(child.operation)
            if operation_ is None:
                known = ", ".join(target.operations) or "none"
                problems.append(
                    (
                        [*c_loc, "operation"],
                        f"{target.handle} has no such operation (known: {known})",
                        child.operation,
                    )
                )
                continue
            if operation_.method != "GET":
                problems.append(
                    ([*c_loc, "operation"], "a child operation reads (GET)", child.operation)
                )
            declared = {p.name for p in operation_.placeholders()}
            for param in child.params:
                if param not in declared:
                    problems.append(
                        (
                            [*c_loc, "params", param],
                            f"not a placeholder of {target.handle}.{child.operation}",
                            param,
                        )
                    )
    return problems
