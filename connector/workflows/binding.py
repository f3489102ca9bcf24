"""The seam between the runner and an engine: the operation executor protocol.

The runner never builds HTTP requests itself. It resolves each step's operation to an
:class:`OperationRef` through an :class:`OperationExecutor` when a document is bound, and at
run time hands the executor an :class:`OperationCall` (path, query and header parameters and a
body) and reads back an :class:`OperationResponse` (status, headers and the body, readable
whole or line by line). :class:`~connector.workflows.executors.ConnectorExecutor` plugs in
``Connector.send``; tests plug in fakes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from .expressions import JSON

__all__ = ["NO_BODY", "OperationCall", "OperationExecutor", "OperationRef", "OperationResponse"]


class _NoBody:
    """The absence of a request body (distinct from a JSON ``null`` body)."""

    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY = _NoBody()


@dataclass(frozen=True)
class OperationRef:
    """An operation of a loaded definition, as a step names it.

    ``response_format`` is ``json``, ``jsonl`` or ``binary`` (the definition's declaration).
    """

    handle: str
    operation: str
    method: str = "GET"
    operation_id: str | None = None
    response_format: str = "json"


@dataclass(frozen=True)
class OperationCall:
    """One call to make: the operation, its parameters by location and the body."""

    ref: OperationRef
    path: dict[str, JSON] = field(default_factory=dict)
    query: dict[str, JSON] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: JSON = NO_BODY


class OperationResponse(Protocol):
    """What a call returns: ``httpx.Response`` satisfies it."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def url(self) -> object: ...

    def read(self) -> bytes: ...

    def iter_lines(self) -> Iterator[str]: ...


class OperationExecutor(Protocol):
    """Resolves operation ids and performs calls for one source description."""

    def find_operation(self, operation_id: str) -> OperationRef | None:
        """The operation with this ``operationId``, or None."""
        ...

    def known_operation_ids(self) -> list[str]:
        """Every operationId this executor can call (for "did you mean" hints)."""
        ...

    def execute(self, call: OperationCall) -> AbstractContextManager[OperationResponse]:
        """Perform the call; the context closes the response (which may be streamed)."""
        ...
