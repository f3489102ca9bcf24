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

Messages never contain secrets: API keys and signing secrets are never formatted into them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
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


class ConnectorError(Exception):
    """The root of every error connector raises on purpose."""


class ConfigurationError(ConnectorError):
    """A setting is missing or wrong (API key, base URL, an option's value).

    ``setting`` names the variable or flag to fix (``ANTHROPIC_API_KEY`` / ``--api-key``).
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a document, located precisely.

    ``location`` is a JSON location such as
    ``resources[1].operations.create.bodyTemplate.placeholders[2].type``.
    """

    location: str
    message: str
    found: object = None
    allowed: str | None = None

    def __str__(self) -> str:
        text = f"{self.location or '<document>'}: {self.message}"
        if self.found is not None:
            text += f" (found {_short(self.found)})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _ProblemsMixin:
    problems: list[Problem]
    file: str | None

    def _render(self, title: str) -> str:
        where = f" in {self.file}" if self.file else ""
        lines = [f"{title}{where}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class DefinitionError(_ProblemsMixin, ConnectorError):
    """A definition that cannot load; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem], *, file: str | None = None) -> None:
        self.problems = list(problems)
        self.file = file
        super().__init__(self._render("invalid definition"))


@dataclass(frozen=True)
class InputProblem:
    """One wrong input: the parameter, what is wrong, the value seen (never a secret)."""

    parameter: str
    message: str
    found: object = None

    def __str__(self) -> str:
        text = f"{self.parameter}: {self.message}"
        if self.found is not None:
            text += f" (found {_short(self.found)})"
        return text


class InputError(ConnectorError):
    """Inputs to an operation that do not fit its placeholders; ``problems`` lists them all."""

    def __init__(
        self,
        problems: Sequence[InputProblem],
        *,
        resource: str | None = None,
        operation: str | None = None,
    ) -> None:
        self.problems = list(problems)
        self.resource = resource
        self.operation = operation
        where = f" for {resource}.{operation}" if resource and operation else ""
        lines = [f"invalid input{where}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class TransportError(ConnectorError):
    """No HTTP answer came back (connection refused, reset, timed out), even after retries."""

    def __init__(self, message: str, *, url: str | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        self.attempts = attempts


class StreamInterruptedError(TransportError):
    """A streamed answer (server-sent events) broke off: the connection dropped mid-stream, or
    the stream ended before the event that completes it. ``events`` counts what arrived."""

    def __init__(self, message: str, *, url: str | None = None, events: int = 0) -> None:
        super().__init__(message, url=url)
        self.events = events


class PaginationError(ConnectorError):
    """Pagination that cannot go on safely (for instance a cursor that repeats)."""

    def __init__(self, message: str, *, resource: str | None = None, cursor: object = None) -> None:
        super().__init__(message)
        self.resource = resource
        self.cursor = cursor


class ResponseError(ConnectorError):
    """A successful status whose body is not what the operation declares (bad JSON, bad JSONL)."""

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        operation: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.resource = resource
        self.operation = operation
        self.request_id = request_id


class UpstreamError(ConnectorError):
    """The API answered with an error status.

    Attributes: ``status`` (HTTP status), ``error_type`` (the envelope's ``error.type``),
    ``message`` (the envelope's message), ``request_id`` (the ``request-id`` header),
    ``resource`` and ``operation`` (what was called), ``body`` (the parsed envelope or text).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        request_id: str | None = None,
        resource: str | None = None,
        operation: str | None = None,
        body: object = None,
    ) -> None:
        self.status = status
        self.error_type = error_type
        self.message = message
        self.request_id = request_id
        self.resource = resource
        self.operation = operation
        self.body = body
        super().__init__(self._render())

    def _render(self) -> str:
        what = (
            f"{self.resource}.{self.operation}" if self.resource and self.operation else "request"
        )
        kind = f" {self.error_type}" if self.error_type else ""
        rid = f" [request-id {self.request_id}]" if self.request_id else ""
        return f"{what} failed: HTTP {self.status}{kind}: {self.message}{rid}"


class BadRequestError(UpstreamError):
    """400 ``invalid_request_error``: the request's format or content is wrong."""


class AuthenticationError(UpstreamError):
    """401 ``authentication_error``: the API key is missing, wrong or expired."""


class BillingError(UpstreamError):
    """402 ``billing_error``."""


class PermissionDeniedError(UpstreamError):
    """403 ``permission_error``: the key may not use this resource."""


class NotFoundError(UpstreamError):
    """404 ``not_found_error``: unknown path or id."""


class RequestTimeoutError(UpstreamError):
    """408: the server timed out waiting for the request."""


class ConflictError(UpstreamError):
    """409 ``conflict_error``."""


class RequestTooLargeError(UpstreamError):
    """413 ``request_too_large``: the body is over the endpoint's size limit."""


class UnprocessableEntityError(UpstreamError):
    """422."""


class RateLimitError(UpstreamError):
    """429 ``rate_limit_error``."""


class InternalServerError(UpstreamError):
    """500 ``api_error`` and any 5xx without a class of its own."""


class GatewayTimeoutError(InternalServerError):
    """504 ``timeout_error``."""


class OverloadedError(InternalServerError):
    """The status a definition declares as "overloaded" (``service.conventions.overloadedStatus``,
    529 for Anthropic): the API did no work, so even a create is retried."""


_BY_STATUS: dict[int, type[UpstreamError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    504: GatewayTimeoutError,
}

ERROR_CLASSES: dict[str, type[UpstreamError]] = {
    cls.__name__: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        BillingError,
        PermissionDeniedError,
        NotFoundError,
        RequestTimeoutError,
        ConflictError,
        RequestTooLargeError,
        UnprocessableEntityError,
        RateLimitError,
        InternalServerError,
        GatewayTimeoutError,
        OverloadedError,
    )
}
"""The classes a definition's ``service.conventions.errors.classes`` may name."""


def error_class_for(
    status: int,
    error_type: str | None = None,
    *,
    overloaded_status: int | None = None,
    classes: Mapping[str, str] | None = None,
) -> type[UpstreamError]:
    """The error class for an HTTP status, refined by the envelope's error type.

    The status decides first (as the official SDKs do); ``overloaded_status`` is the API's
    "overloaded" status (an OverloadedError); ``classes`` maps the API's error types to class
    names, used only when the status has no class of its own (another 4xx, say).
    """
    if overloaded_status is not None and status == overloaded_status:
        return OverloadedError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    name = (classes or {}).get(error_type or "")
    if name in ERROR_CLASSES:
        return ERROR_CLASSES[name]
    if status >= 500:
        return InternalServerError
    return BadRequestError if 400 <= status < 500 else UpstreamError


class WebhookError(ConnectorError):
    """The root of the emitter's and the receiver's errors."""


class SubscriptionError(WebhookError):
    """A subscription that cannot be added or changed: ``field`` says which part is wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsafeDestinationError(WebhookError):
    """A webhook target the guard refuses (a private, loopback or otherwise non-public address,
    a scheme or port that is not allowed). ``url`` and ``address`` say what was refused."""

    def __init__(self, message: str, *, url: str | None = None, address: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.address = address


class StoreError(WebhookError):
    """The emitter's state store cannot be opened or used (``location`` is its path or DSN,
    with any password removed). ``transient`` is True for a failure that may pass by itself
    (busy, disk full, connection lost): a long-running emitter backs off and tries again."""

    def __init__(
        self, message: str, *, location: str | None = None, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.location = location
        self.transient = transient


class EventError(WebhookError):
    """A record that cannot become an event (its body cannot be JSON, its id cannot be
    stored); the poller quarantines that record and carries on with the others."""

    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message)
        self.resource = resource


class VerificationError(WebhookError):
    """An incoming webhook that does not verify. ``reason`` is a short code: ``missing-header``,
    ``bad-timestamp``, ``stale-timestamp``, ``bad-signature``, ``bad-payload``, ``too-large``."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class WorkflowError(ConnectorError):
    """The root of the workflow runner's errors."""


class WorkflowDefinitionError(_ProblemsMixin, WorkflowError):
    """An Arazzo document that cannot load; ``problems`` lists every problem with its location."""

    def __init__(self, problems: Sequence[Problem], *, file: str | None = None) -> None:
        self.problems = list(problems)
        self.file = file
        super().__init__(self._render("invalid workflow document"))


class StepFailedError(WorkflowError):
    """A step whose success criteria did not hold (or whose call failed).

    ``workflow_id``, ``step_id``, ``criterion`` (the condition text) and ``value`` (what was
    seen, e.g. the status code) say exactly what failed.
    """

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str,
        step_id: str,
        criterion: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.step_id = step_id
        self.criterion = criterion
        self.value = value


class DestinationError(ConnectorError):
    """A data pull's destination (a dlt pipeline) failed to take the records.

    ``destination`` names it (``duckdb``, never with credentials) and ``stage`` the dlt step
    that failed (``extract``, ``normalize``, ``load``); what was extracted stays pending and
    the next run of the same pipeline loads it first.
    """

    def __init__(self, message: str, *, destination: str, stage: str | None = None) -> None:
        super().__init__(message)
        self.destination = destination
        self.stage = stage
