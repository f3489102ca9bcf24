"""Request plans: what building one operation's request needs that does not depend on the
inputs, worked out once per operation instead of on every call (issue 11, item 2).

A plan holds the placeholder lookups (names, aliases, which are path values), the resource's
and the operation's header templates merged in override order, the query templates, and the
headers whose templates read no placeholder, already rendered. It is made on the operation's
first request (so that it sees the templates as compiled) and kept on the operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .placeholders import PlaceholderIndex
from .templates import CompiledTemplate

if TYPE_CHECKING:
    from .definitions import Operation, Resource, TemplateMap

__all__ = ["RequestPlan", "plan_for"]


Entry = tuple[str, str, CompiledTemplate]
"""One templated header or query parameter: the name sent, the name as written, the template."""


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """The input-independent part of one operation's requests."""

    inputs: PlaceholderIndex
    body_names: frozenset[str]
    path_variables: tuple[str, ...]
    endpoint: CompiledTemplate
    path: CompiledTemplate
    headers: tuple[Entry, ...]
    """Templated headers (sent lower-case), the resource's first: a later entry wins."""
    query: tuple[Entry, ...]


def _entries(template_map: TemplateMap | None, *, lower: bool) -> list[Entry]:
    if template_map is None:
        return []
    return [(k.lower() if lower else k, k, c) for k, c in template_map.compiled.items()]


def plan_for(resource: Resource, operation: Operation) -> RequestPlan:
    """The operation's plan, made on first use and kept on the operation."""
    private = operation.__pydantic_private__
    plan: RequestPlan | None = private.get("_plan") if private else None
    if plan is not None:
        return plan
    endpoint = resource.endpoint.compiled
    path = operation.path.compiled
    plan = RequestPlan(
        inputs=PlaceholderIndex(operation.placeholders() + resource.endpoint.placeholders),
        body_names=operation.body_placeholder_names(),
        path_variables=tuple(sorted(endpoint.variables | path.variables)),
        endpoint=endpoint,
        path=path,
        headers=tuple(
            _entries(resource.headers, lower=True) + _entries(operation.headers, lower=True)
        ),
        query=tuple(_entries(operation.query_params, lower=False)),
    )
    if private is not None:
        private["_plan"] = plan
    return plan
