"""The definition blocks of data pulls: ``incremental`` on a list operation, ``children`` on a
resource. :func:`connector.pulls.spec_compiler.compile_pulls` compiles their selectors and
checks their cross-references (an operation that exists, a placeholder that is declared) at
load, with every problem located.

Selectors here read the record as a pull emits it: shaped by the resource's ``fields`` when
it has any, the API's item otherwise.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic import Field as PydanticField

from ..compiled import CompiledChild, linked_part
from ..selectors import Selector
from ..types import JSON

__all__ = ["Child", "ChildWhere", "Incremental"]

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


class ChildWhere(_Strict):
    """Which parents have children: the selected value compared with ``value``."""

    selector: SelectorSpec
    op: Literal["==", "!=", ">", ">=", "<", "<="] = "=="
    value: JSON = None


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
    _compiled: CompiledChild | None = PrivateAttr(default=None)

    @property
    def compiled(self) -> CompiledChild:
        """What loading compiled from this child (:mod:`connector.compiled`)."""
        compiled: CompiledChild = linked_part(self, "child")
        return compiled

    def child_params(self, parent: JSON) -> dict[str, JSON]:
        """The child operation's parameters for one parent record."""
        return self.compiled.child_params(parent)

    @property
    def id_selector(self) -> Selector | None:
        """The compiled ``idField``, when given."""
        return self.compiled.id
