"""Compiled definitions: the immutable objects the compiler returns, read at run time.

Loading compiles every template, selector, paginator, record shape, request plan and trigger
rule exactly once (:mod:`connector.compiler`) and returns them as the frozen objects here,
one tree per definition: ``Definition.compiled`` (a :class:`CompiledConnection`). Nothing
is compiled again at run time. The models of the format (:mod:`connector.models`) read
their own compiled object through ``.compiled`` (``operation.compiled.plan``,
``resource.compiled.shape``); the loader links each model to it once, after a successful
compile, and the compiler itself writes nothing into the models.

This module imports no model: the models import it (for the type of ``.compiled``), and the
compiler imports both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .conventions import Rules
from .errors import ConfigurationError
from .pagination import Paginator
from .request_plans import RequestPlan
from .selectors import Selector
from .shaping import RecordShape
from .templates import CompiledTemplate
from .trigger_rules import CompiledCondition, Feed, Rule
from .types import JSON

__all__ = [
    "CompiledChild",
    "CompiledCondition",
    "CompiledConnection",
    "CompiledMultistep",
    "CompiledOperation",
    "CompiledResource",
    "CompiledService",
    "CompiledWebhook",
    "linked_part",
]


def linked_part(model: Any, what: str) -> Any:
    """The compiled part the loader linked to ``model`` (a definition model: operation,
    resource, child, multi-step operation). Read from pydantic's private slot directly: this
    runs on every call, and pydantic's ``__getattr__`` for private attributes costs more than
    the lookup itself. A model made by hand, not by loading, has none: a typed error."""
    part = (model.__pydantic_private__ or {}).get("_compiled")
    if part is None:
        raise ConfigurationError(
            f"this {what} is not part of a loaded definition: make it with"
            " connector.load_definition(...), which compiles it"
        )
    return part


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    """One operation, compiled: where it belongs, its request plan, how its answer is read."""

    name: str
    """The operation's name in its resource (``create``, ``list`` ...)."""
    handle: str
    """The handle of the resource it belongs to."""
    plan: RequestPlan
    headers: Mapping[str, CompiledTemplate]
    """The operation's own ``headers`` templates, by name as written."""
    query: Mapping[str, CompiledTemplate]
    """The ``queryParams`` templates, by name."""
    records: Selector | None
    """The compiled ``records`` selector (None: the conventions' default)."""
    paginator: Paginator | None
    response_map: Mapping[str, Selector] | None
    """Corteza's ``responseMap``: output name -> compiled selector."""
    cursor: Selector | None = None
    """The ``incremental`` block's compiled cursor selector (data pulls)."""


@dataclass(frozen=True, slots=True)
class CompiledChild:
    """One ``children`` entry of a resource (data pulls), compiled."""

    params: Mapping[str, Selector]
    id: Selector | None
    where: CompiledCondition | None
    """Which parents have children (``where``), compiled."""

    def child_params(self, parent: JSON) -> dict[str, JSON]:
        """The child operation's parameters for one parent record."""
        return {name: selector.select(parent) for name, selector in self.params.items()}


@dataclass(frozen=True, slots=True)
class CompiledWebhook:
    """One webhook, compiled: its payload's shaping function and its trigger rule."""

    shape: RecordShape
    rule: Rule
    feed: Feed | None = None
    """A feed trigger's compiled form (None for a listing-diff trigger)."""


@dataclass(frozen=True, slots=True)
class CompiledResource:
    """One resource, compiled: its record shape, id selector, operations, webhooks, children."""

    handle: str
    endpoint: CompiledTemplate
    headers: Mapping[str, CompiledTemplate]
    """The resource's ``headers`` templates (sent with every operation), by name."""
    shape: RecordShape
    """The ``fields`` compiled into one shaping function."""
    fields: tuple[Selector, ...]
    """Each field's compiled selector, in ``fields`` order."""
    id: Selector
    """The compiled ``idField``."""
    operations: Mapping[str, CompiledOperation]
    webhooks: tuple[CompiledWebhook, ...]
    children: tuple[CompiledChild, ...]

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The trigger rule of each webhook the poller diffs listings for, in document order
        (a feed's rule is its :class:`~connector.emitter.triggers.Feed`'s)."""
        return tuple(w.rule for w in self.webhooks if w.rule.kind != "feed")


@dataclass(frozen=True, slots=True)
class CompiledService:
    """The service block, compiled: ``templates`` by where they are written (``baseURL``,
    ``headers.<name>``, ``auth.params.<name>``), the probe's path and the conventions."""

    templates: Mapping[str, CompiledTemplate]
    probe: CompiledTemplate | None
    conventions: Rules
    """``service.conventions``, compiled."""


@dataclass(frozen=True, slots=True)
class CompiledMultistep:
    """A top-level multi-step operation, compiled (its steps are the operations of a hidden
    resource): each ``output`` field's selector, None for one taken by its mapped name."""

    outputs: tuple[Selector | None, ...]


@dataclass(frozen=True, slots=True)
class CompiledConnection:
    """Everything a definition compiles to: the service, and each resource by handle (the
    hidden resources of multi-step operations included)."""

    service: CompiledService | None
    resources: Mapping[str, CompiledResource]
    multisteps: Mapping[str, CompiledMultistep] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Each top-level multi-step operation by handle."""
