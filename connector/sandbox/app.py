"""The sandbox app: a local imitation of the Anthropic API, built with starlette.

Every response carries a ``request-id`` header; every error is the API's envelope. The API is
served under ``/v1`` and under the seeds' prefix ``/rest/anthropic-message-batches-api/1.0.0``;
the control endpoints live under ``/_sandbox`` and need no key.
"""

from __future__ import annotations

import hmac
import logging

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.errors import UpstreamError

from .api import Settings, api_routes
from .clock import Clock
from .control import control_routes
from .faults import ConnectionDropped, FaultInjector, FaultPlan, Sleep
from .state import SandboxState
from .uploads import upload_routes
from .validation import MODERN_VERSION, OLD_VERSION
from .wire import error_body, error_type_for, json_response

__all__ = ["SEED_PREFIX", "create_app"]

SEED_PREFIX = "/rest/anthropic-message-batches-api/1.0.0"
VERSIONS = (OLD_VERSION, MODERN_VERSION)
_REQUEST_ID = "sandbox.request_id"
_log = logging.getLogger("connector.sandbox")


def create_app(
    *,
    clock: Clock | None = None,
    batch_seconds: float = 2.0,
    api_key: str | None = None,
    faults: FaultPlan | None = None,
    strict_beta: bool = False,
    cancel_seconds: float | None = None,
    seed: int = 0,
    sleep: Sleep | None = None,
    max_message_bytes: int = 32 * 2**20,
    max_batch_bytes: int = 256 * 2**20,
    max_batch_requests: int = 100_000,
    max_file_bytes: int = 500 * 2**20,
) -> Starlette:
    """A fresh sandbox with empty in-memory state.

    ``clock`` (default: the wall clock) drives batches, which end ``batch_seconds`` after
    creation; a cancel takes ``cancel_seconds`` (default a quarter of that). With ``api_key``
    only that key is accepted; otherwise any non-empty key is. ``faults`` is the initial fault
    plan and ``sleep`` the coroutine used for added latency (inject one to measure it).
    ``strict_beta`` makes 2023-06-01 clients send the Files/Skills beta header. The size
    limits answer 413 ``request_too_large`` when passed. ``seed`` makes ids repeatable.

    ``app.state.sandbox`` is the :class:`SandboxState` (seed it, add models, move time);
    ``app.state.faults`` the :class:`FaultInjector`.
    """
    state = SandboxState(
        clock=clock, batch_seconds=batch_seconds, cancel_seconds=cancel_seconds, seed=seed
    )
    settings = Settings(
        api_key=api_key,
        strict_beta=strict_beta,
        max_message_bytes=max_message_bytes,
        max_batch_bytes=max_batch_bytes,
        max_batch_requests=max_batch_requests,
        max_file_bytes=max_file_bytes,
    )
    injector = FaultInjector(faults, sleep=sleep)
    routes = api_routes() + upload_routes()
    app = Starlette(
        routes=[
            Mount("/v1", routes=routes),
            Mount(SEED_PREFIX, routes=routes),
            Mount("/_sandbox", routes=control_routes()),
        ],
        middleware=[Middleware(Gate, state=state, settings=settings, injector=injector)],
        exception_handlers={
            UpstreamError: _upstream_error,
            HTTPException: _http_error,
        },
    )
    app.state.sandbox = state
    app.state.settings = settings
    app.state.faults = injector
    return app


def _envelope(request: Request, status: int, message: str, kind: str | None = None) -> Response:
    request_id = request.scope.get(_REQUEST_ID)
    body = error_body(kind or error_type_for(status), message, request_id)
    return json_response(body, status=status)


async def _upstream_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamError)
    return _envelope(request, exc.status, exc.message, exc.error_type)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"{request.method} {request.url.path}: no such endpoint"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = exc.detail
    response = _envelope(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


class Gate:
    """The ASGI middleware in front of every route: it stamps ``request-id`` on the answer,
    injects faults, and checks the key and ``anthropic-version`` on API paths."""

    def __init__(
        self, app: ASGIApp, *, state: SandboxState, settings: Settings, injector: FaultInjector
    ) -> None:
        self.app = app
        self.state = state
        self.settings = settings
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.state.ids.make("req")
        scope[_REQUEST_ID] = request_id

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["request-id"] = request_id
                started = True
            await send(message)

        path: str = scope["path"]
        try:
            if not path.startswith("/_sandbox/"):
                refusal = await self._fault_or_refusal(scope, path, request_id, send_with_id)
                if refusal is not None:
                    await refusal(scope, receive, send_with_id)
                    return
            await self.app(scope, receive, send_with_id)
        except ConnectionDropped:
            raise
        except Exception as exc:
            # A bug of ours, not the client's: log it, and answer the API's 500 envelope with
            # the request id (the connection stays usable). Once the answer has started
            # there is nothing left to say, so the server closes the connection.
            _log.exception("internal sandbox error on %s %s", scope["method"], path)
            if started:
                raise
            body = error_body(
                "api_error", f"internal sandbox error: {type(exc).__name__}", request_id
            )
            await json_response(body, status=500)(scope, receive, send_with_id)

    async def _fault_or_refusal(
        self, scope: Scope, path: str, request_id: str, send: Send
    ) -> Response | None:
        api_path = "/v1" + path[len(SEED_PREFIX) :] if path.startswith(SEED_PREFIX) else path
        fault = self.injector.decide(scope["method"], api_path)
        if fault.latency:
            await self.injector.sleep(fault.latency)
        if fault.drop:
            # Headers out, then an exception: the server closes the socket mid-answer.
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionDropped("the sandbox dropped the connection (fault injection)")
        if fault.status is not None:
            body = error_body(
                error_type_for(fault.status), "injected fault: please retry", request_id
            )
            response = json_response(body, status=fault.status)
            response.headers["retry-after"] = f"{fault.retry_after:g}"
            response.headers["retry-after-ms"] = f"{fault.retry_after * 1000:g}"
            return response
        return self._refusal(Headers(scope=scope), request_id)

    def _refusal(self, headers: Headers, request_id: str) -> Response | None:
        """401 for a missing or wrong key, 400 for a missing or unknown version."""
        key = headers.get("x-api-key")
        authorization = headers.get("authorization", "")
        if not key and authorization.lower().startswith("bearer "):
            key = authorization[len("bearer ") :].strip()
        version = headers.get("anthropic-version")
        # Name the header this client's API version authenticates with (either is accepted).
        header = "Authorization: Bearer" if version == MODERN_VERSION else "x-api-key"
        if not key:
            return _refuse(401, "authentication_error", f"{header} header is required", request_id)
        expected = self.settings.api_key
        if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
            return _refuse(401, "authentication_error", f"invalid {header}", request_id)
        if version is None:
            return _refuse(
                400, "invalid_request_error", "anthropic-version: header is required", request_id
            )
        if version not in VERSIONS:
            return _refuse(
                400,
                "invalid_request_error",
                f"anthropic-version: {version!r} is not a valid version; "
                f"use one of {', '.join(VERSIONS)}",
                request_id,
            )
        return None


def _refuse(status: int, kind: str, message: str, request_id: str) -> Response:
    return json_response(error_body(kind, message, request_id), status=status)
