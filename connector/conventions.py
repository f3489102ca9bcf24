"""An API's conventions: how its errors, request ids, retries and receipts look.

Declared per definition as ``service.conventions`` (``docs/definitions.md``); every key is
optional and the defaults fit most REST APIs:

* the error message is the first string among ``error.message``, ``message``, ``error`` and
  ``errors[0].message``; the error type the first of ``error.type``, ``error.code``, ``code``;
* the request id is the first of the ``request-id`` and ``x-request-id`` headers;
* 408, 409, 429 and every 5xx are retried, ``retry-after`` (seconds or a date) is honoured,
  and only 429 counts as "answered before any work was done" (safe to retry a create);
* list items are the ``data`` array, else the answer itself when it is an array;
* the answer to a DELETE is a receipt, returned as is.

A bare resource array has no service block: it takes the conventions (and the API-key header)
of the packaged connection document ``connector/data/claude-api.json``, the API whose seed
that format is (``docs/definitions.md``), so the seed keeps behaving as it always has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from .selectors import Selector
from .types import JSON

if TYPE_CHECKING:
    import httpx

__all__ = ["GENERIC", "Conventions", "DeleteReceipt", "ErrorEnvelope", "Rules", "packaged_service"]

SelectorSpec = list[str | int] | list[str] | str
ErrorClass = Literal[
    "BadRequestError",
    "AuthenticationError",
    "BillingError",
    "PermissionDeniedError",
    "NotFoundError",
    "RequestTimeoutError",
    "ConflictError",
    "RequestTooLargeError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "GatewayTimeoutError",
    "OverloadedError",
]
Status = Annotated[int, PydanticField(ge=100, le=599)]


class _Spec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_default=False, strict=True
    )


_FIRST_ERROR: list[str | int] = ["errors", 0, "message"]
_MESSAGES: list[SelectorSpec] = [["error", "message"], ["message"], ["error"], _FIRST_ERROR]


class ErrorEnvelope(_Spec):
    """Where an error answer keeps its message, its type or code, and its details."""

    message: list[SelectorSpec] = _MESSAGES
    type: list[SelectorSpec] = [["error", "type"], ["error", "code"], ["code"]]
    details: SelectorSpec | None = None
    """Where the details live (``errors``); appended to the message when present."""
    classes: dict[str, ErrorClass] = {}
    """Error type -> error class name (``BadRequestError`` ...), used when the status alone
    does not decide the class."""


class DeleteReceipt(_Spec):
    """How a deletion receipt looks: ``selector`` equal to ``equals`` or ending in ``suffix``."""

    selector: SelectorSpec
    equals: JSON = None
    suffix: str | None = None


class Conventions(_Spec):
    """``service.conventions``: see the module docstring for the defaults."""

    errors: ErrorEnvelope = ErrorEnvelope()
    request_id_headers: list[str] = PydanticField(
        default=["request-id", "x-request-id"], alias="requestIdHeaders"
    )
    retry_statuses: list[Status] = PydanticField(default=[408, 409, 429], alias="retryStatuses")
    """Retried besides every 5xx."""
    unprocessed_statuses: list[Status] = PydanticField(default=[429], alias="unprocessedStatuses")
    """Answers given before any work was done: even a non-idempotent call is retried."""
    overloaded_status: Status | None = PydanticField(default=None, alias="overloadedStatus")
    """The status meaning "overloaded, try later" (an OverloadedError, unprocessed)."""
    retry_after_ms_header: str | None = PydanticField(default=None, alias="retryAfterMsHeader")
    should_retry_header: str | None = PydanticField(default=None, alias="shouldRetryHeader")
    """A header whose ``true``/``false`` overrides the status rule."""
    records: SelectorSpec | None = None
    """The default records selector of list answers (else ``data``, else the whole array)."""
    delete_receipt: DeleteReceipt | None = PydanticField(default=None, alias="deleteReceipt")
    idempotency_key_header: str | None = PydanticField(default=None, alias="idempotencyKeyHeader")
    """A header the API de-duplicates writes by: sent with a fresh key on each call (the same
    key on its retries), which makes a non-idempotent call safe to retry."""


SelectorCompiler = Callable[[tuple[str | int, ...], SelectorSpec], "Selector | None"]
"""Compiles the selector written at a location below ``conventions`` (the definition
compiler's, which reports a broken one there; None for it)."""


def _compile(where: tuple[str | int, ...], spec: SelectorSpec) -> Selector:
    return Selector(spec)


class Rules:
    """Compiled :class:`Conventions` (once per definition, at load): what the engine asks.

    ``compile`` compiles each selector (default: plainly; the definition compiler passes its
    own, which locates a broken one)."""

    def __init__(self, conventions: Conventions, compile: SelectorCompiler = _compile) -> None:
        self.conventions = conventions
        self.overloaded_status = conventions.overloaded_status
        self.retry_after_ms_header = conventions.retry_after_ms_header
        self.should_retry_header = conventions.should_retry_header
        self.idempotency_key_header = conventions.idempotency_key_header
        self.error_classes: dict[str, str] = dict(conventions.errors.classes)
        errors = conventions.errors
        messages = [compile(("errors", "message", i), s) for i, s in enumerate(errors.message)]
        self._messages = [s for s in messages if s is not None]
        types = [compile(("errors", "type", i), s) for i, s in enumerate(errors.type)]
        self._types = [s for s in types if s is not None]
        details = errors.details
        self._details = compile(("errors", "details"), details) if details else None
        records = conventions.records
        self._records = compile(("records",), records) if records is not None else None
        self._receipt_spec = conventions.delete_receipt
        self._receipt = (
            compile(("deleteReceipt", "selector"), self._receipt_spec.selector)
            if self._receipt_spec
            else None
        )
        self._request_ids = [h.lower() for h in conventions.request_id_headers]
        overloaded = [conventions.overloaded_status] if conventions.overloaded_status else []
        self._unprocessed = frozenset([*conventions.unprocessed_statuses, *overloaded])
        self._retry = frozenset(conventions.retry_statuses)

    # reading answers ---------------------------------------------------------------------

    def request_id(self, headers: httpx.Headers) -> str | None:
        """The request id among ``headers``."""
        for name in self._request_ids:
            value = headers.get(name)
            if value:
                return str(value)
        return None

    def error_message(self, body: JSON) -> str | None:
        """The message of an error body, with its details when declared."""
        message = _first_string(self._messages, body)
        if message is not None and self._details is not None:
            details = self._details.select(body)
            if details not in (None, [], {}):
                message = f"{message}: {json.dumps(details, ensure_ascii=False)[:300]}"
        return message

    def error_type(self, body: JSON) -> str | None:
        """The type or code of an error body."""
        return _first_string(self._types, body)

    def default_records(self, payload: JSON) -> JSON:
        """The items of a list answer when the operation declares no ``records``."""
        if self._records is not None:
            return self._records.select(payload)
        if isinstance(payload, dict) and isinstance(payload.get("data"), list):
            return payload["data"]
        return payload

    def is_receipt(self, payload: JSON, method: str) -> bool:
        """Whether ``payload`` is a deletion receipt (returned as is, not shaped)."""
        receipt = self._receipt_spec
        if receipt is None or self._receipt is None:
            return method == "DELETE"
        value = self._receipt.select(payload)
        if receipt.suffix is not None:
            return isinstance(value, str) and value.endswith(receipt.suffix)
        return value == receipt.equals and value is not None

    # retrying ----------------------------------------------------------------------------

    def retryable(self, status: int) -> bool:
        """Whether a status is worth retrying at all."""
        return status >= 500 or status in self._retry

    def unprocessed(self, status: int) -> bool:
        """Whether a status means the request was not processed (safe to retry any call)."""
        return status in self._unprocessed


def _first_string(selectors: list[Selector], body: JSON) -> str | None:
    for selector in selectors:
        value = selector.select(body)
        if isinstance(value, str) and value:
            return value
    return None


GENERIC = Rules(Conventions())
"""The defaults, for a definition whose service declares no conventions."""


@cache
def packaged_service() -> tuple[Rules, str | None]:
    """The conventions and the API-key header a bare resource array runs with (see the
    module docstring)."""
    text = resources.files("connector").joinpath("data/claude-api.json").read_text("utf-8")
    service = json.loads(text).get("service") or {}
    conventions = Rules(Conventions.model_validate(service.get("conventions") or {}))
    auth = service.get("auth") or {}
    header = (auth.get("params") or {}).get("header") if auth.get("method") == "api_token" else None
    return conventions, header
