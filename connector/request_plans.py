"""Request plans: what building one operation's request needs that does not depend on the
inputs, worked out once per operation at load (issue 11, item 2).

A plan holds the placeholder lookups (names, aliases, which are path values), the compiled
templates of the endpoint, path and body, the resource's and the operation's header templates
merged in override order, and the query templates. The compiler builds it
(:mod:`connector.operation_compiler`) and it is read as ``operation.compiled.plan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .placeholders import PlaceholderIndex
from .templates import CompiledTemplate

__all__ = ["Entry", "RequestPlan", "entries"]


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
    body: CompiledTemplate | None
    headers: tuple[Entry, ...]
    """Templated headers (sent lower-case), the resource's first: a later entry wins."""
    query: tuple[Entry, ...]


def entries(compiled: Mapping[str, CompiledTemplate] | None, *, lower: bool) -> list[Entry]:
    """A templated map's entries as a plan holds them (header names lower-cased)."""
    if compiled is None:
        return []
    return [(k.lower() if lower else k, k, c) for k, c in compiled.items()]
