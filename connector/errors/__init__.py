"""The one exception tree of connector.

Every error the library raises on purpose is a :class:`ConnectorError`; each keeps its
context (file, JSON location, parameter, status, request id ...) as attributes so that
callers and tests can act on them without parsing messages::

    ConnectorError
    ├── ConfigurationError          missing API key, bad base URL, bad option value
    ├── DefinitionError             a definition that cannot load (every problem listed)
    ├── InputError                  placeholders missing, mistyped or undeclared
    ├── TransportError              the request never got an HTTP answer (after retries)
    ├── PaginationError             a cursor that repeats, a page that makes no progress
    ├── ResponseError               a 2xx answer whose body is not what the operation declares
    ├── UpstreamError               the API answered with an error status
    │   ├── BadRequestError             400 invalid_request_error
    │   ├── AuthenticationError         401 authentication_error
    │   ├── BillingError                402 billing_error
    │   ├── PermissionDeniedError       403 permission_error
    │   ├── NotFoundError               404 not_found_error
    │   ├── RequestTimeoutError         408
    │   ├── ConflictError               409 conflict_error
    │   ├── RequestTooLargeError        413 request_too_large
    │   ├── UnprocessableEntityError    422
    │   ├── RateLimitError              429 rate_limit_error
    │   └── InternalServerError         500 and any other 5xx (api_error)
    │       ├── GatewayTimeoutError         504 timeout_error
    │       └── OverloadedError             the API's overloaded status (Anthropic: 529)
    ├── WebhookError                the emitter and the receiver
    │   ├── SubscriptionError           a bad subscription (URL, events, secret)
    │   ├── UnsafeDestinationError      a webhook target that is not allowed (SSRF guard)
    │   ├── StoreError                  the state store cannot be opened or is inconsistent
    │   ├── EventError                  a record that cannot become an event (quarantined)
    │   └── VerificationError           an incoming webhook that does not verify
    └── WorkflowError               Arazzo documents and their runs
        ├── WorkflowDefinitionError     a document that cannot load (every problem listed)
        └── StepFailedError             a step whose success criteria did not hold

This package is the one import path (``from connector.errors import ...``); its modules group
the tree: ``core`` (root, loading, input, transport, responses, destinations), ``upstream`` (error
statuses), ``webhooks``, ``workflows``.

Messages never contain secrets: API keys and signing secrets are never formatted into them.
"""

from __future__ import annotations

from connector.errors.core import (
    ConfigurationError,
    ConnectorError,
    DefinitionError,
    DestinationError,
    InputError,
    InputProblem,
    PaginationError,
    Problem,
    ResponseError,
    StreamInterruptedError,
    TransportError,
)
from connector.errors.upstream import (
    ERROR_CLASSES,
    AuthenticationError,
    BadRequestError,
    BillingError,
    ConflictError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    UnprocessableEntityError,
    UpstreamError,
    error_class_for,
)
from connector.errors.webhooks import (
    EventError,
    StoreError,
    SubscriptionError,
    UnsafeDestinationError,
    VerificationError,
    WebhookError,
)
from connector.errors.workflows import StepFailedError, WorkflowDefinitionError, WorkflowError

__all__ = [
    "ERROR_CLASSES",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "ConfigurationError",
    "ConflictError",
    "ConnectorError",
    "DefinitionError",
    "DestinationError",
    "EventError",
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
    "error_class_for",
]
