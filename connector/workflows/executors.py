"""The engine's side of the seam: an operation executor over ``Connector.send``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .binding import NO_BODY, OperationCall, OperationRef, OperationResponse

if TYPE_CHECKING:
    from connector.client import Connector

__all__ = ["ConnectorExecutor"]


class ConnectorExecutor:
    """Resolves ``operationId`` against the connector's definition and calls through it.

    The step's headers override the service's (so a workflow's ``x-api-key`` input wins), its
    ``in: path`` parameters become the operation's placeholders (aliases such as
    ``message_batch_id`` bind), and its payload replaces the operation's ``bodyTemplate``.
    """

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    def find_operation(self, operation_id: str) -> OperationRef | None:
        """The definition's operation with this ``operationId``."""
        found = self.connector.definition.find_operation(operation_id)
        if found is None:
            return None
        resource, name, operation = found
        return OperationRef(
            handle=resource.handle,
            operation=name,
            method=operation.method,
            operation_id=operation.operation_id,
            response_format=operation.response_format,
        )

    def known_operation_ids(self) -> list[str]:
        """Every operationId of the definition."""
        return sorted(
            op.operation_id
            for resource in self.connector.definition.resources
            for op in resource.operations.values()
            if op.operation_id
        )

    @contextmanager
    def execute(self, call: OperationCall) -> Iterator[OperationResponse]:
        """Send the call (streamed, so a large JSONL body is never held whole)."""
        extra = {} if call.body is NO_BODY else {"body": call.body}
        response = self.connector.send(
            call.ref.handle,
            call.ref.operation,
            call.path or None,
            headers=call.headers or None,
            query=call.query or None,
            stream=True,
            **extra,
        )
        try:
            yield response
        finally:
            response.close()
