"""connector: one JSON definition of an HTTP API becomes CRUD calls, webhooks and workflows.

The public surface is re-exported here; import from ``connector``, not from its modules.
The errors are imported at once (they are cheap); the client and the definition model are
imported on first use, so that ``connector --help`` does not pay for httpx, pydantic and
jinja2 (issue 11: start-up).
"""

from __future__ import annotations

import typing as _typing

from .errors import (
    AuthenticationError,
    BadRequestError,
    BillingError,
    ConfigurationError,
    ConflictError,
    ConnectorError,
    DefinitionError,
    GatewayTimeoutError,
    InputError,
    InputProblem,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PaginationError,
    PermissionDeniedError,
    Problem,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseError,
    StepFailedError,
    StoreError,
    StreamInterruptedError,
    SubscriptionError,
    TransportError,
    UnprocessableEntityError,
    UnsafeDestinationError,
    UpstreamError,
    VerificationError,
    WebhookError,
    WorkflowDefinitionError,
    WorkflowError,
)

if _typing.TYPE_CHECKING:
    from .client import AsyncConnector, Connector
    from .definitions import Definition, definition_json_schema, load_definition
    from .retry import RetryPolicy

__version__ = "0.1.0"

_LAZY = {
    "AsyncConnector": "client",
    "Connector": "client",
    "Definition": "definitions",
    "definition_json_schema": "definitions",
    "load_definition": "definitions",
    "RetryPolicy": "retry",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'connector' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AsyncConnector",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "ConfigurationError",
    "ConflictError",
    "Connector",
    "ConnectorError",
    "Definition",
    "DefinitionError",
    "GatewayTimeoutError",
    "InputError",
    "InputProblem",
    "InternalServerError",
    "NotFoundError",
    "OverloadedError",
    "PaginationError",
    "PermissionDeniedError",
    "Problem",
    "RateLimitError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseError",
    "RetryPolicy",
    "StepFailedError",
    "StoreError",
    "StreamInterruptedError",
    "SubscriptionError",
    "TransportError",
    "UnprocessableEntityError",
    "UnsafeDestinationError",
    "UpstreamError",
    "VerificationError",
    "WebhookError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "__version__",
    "definition_json_schema",
    "load_definition",
]
