"""connector: one JSON definition of an HTTP API becomes CRUD calls, webhooks and workflows.

The public surface is re-exported here; import from ``connector``, not from its modules.
"""

from __future__ import annotations

from .client import AsyncConnector, Connector
from .definitions import Definition, definition_json_schema, load_definition
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
from .retry import RetryPolicy

__version__ = "0.1.0"

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
