"""The API's error statuses as classes, and the rule that picks one for an answer."""

from __future__ import annotations

from collections.abc import Mapping

from connector.errors.core import ConnectorError


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
