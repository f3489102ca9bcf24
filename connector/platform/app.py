"""The service's Starlette app: routes, bearer-token guard, body cap, metrics, problems.

:func:`create_app` assembles it over a :class:`~connector.platform.runtime.Runtime`. Every
route but ``/healthz`` (and the console's static shell, which holds no data) needs
``Authorization: Bearer <token>``; a missing or wrong token gets a bare 401. Errors are RFC
9457 problem documents; an unexpected exception is logged by its type only and answered as a
500 that says nothing more. CORS is off unless ``cors_origins`` names the allowed origins.

With ``emit=True`` the lifespan also runs the emitter of every connection that has
subscriptions (checked again every ``emit_interval`` seconds); on shutdown (SIGTERM through
uvicorn) in-flight calls finish first, then the emitters stop, finishing their attempts and
handing back their leases.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.errors import ConnectorError
from connector.platform.bodies import DEFAULT_MAX_BODY
from connector.platform.calls import call_routes
from connector.platform.catalog import catalog_routes
from connector.platform.connections import connection_routes
from connector.platform.console import PUBLIC_PATHS, console_routes
from connector.platform.emitters import run_emitters
from connector.platform.hooks import hook_routes
from connector.platform.probes import probe_routes
from connector.platform.problems import BrokenAnswer, HTTPProblem, from_error, problem
from connector.platform.runtime import Runtime

__all__ = ["create_app"]

log = logging.getLogger("connector.platform")


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "connector_http_requests",
            "Requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "connector_http_request_seconds",
            "Time to the answer's first byte, by route.",
            ["route"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "connector_http_in_flight", "Requests being answered.", registry=self.registry
        )


class _Guard:
    """Bearer tokens, and the metrics of every request (pure ASGI: streams stay streams)."""

    def __init__(self, app: ASGIApp, runtime: Runtime, metrics: _Metrics) -> None:
        self.app = app
        self.runtime = runtime
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] not in PUBLIC_PATHS and not self._authorised(scope):
            response = problem(401, "unauthorized", headers={"www-authenticate": "Bearer"})
            await response(scope, receive, send)
            self.metrics.requests.labels("unauthorized", scope["method"], "401").inc()
            return
        started = time.perf_counter()
        status = [500]
        started_answer = [False]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_answer[0] = True
                status[0] = message["status"]
                route = scope.get("route")
                label = getattr(route, "path", "unmatched")
                self.metrics.latency.labels(label).observe(time.perf_counter() - started)
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        except BrokenAnswer as exc:  # begun and cannot be finished: the reader sees it cut
            log.warning("%s %s: %s, so is the answer", scope["method"], scope["path"], exc)
        except Exception as exc:
            # Logged by type only: a message or a traceback's locals could hold a secret.
            log.error(
                "unexpected %s answering %s %s", type(exc).__name__, scope["method"], scope["path"]
            )
            if status[0] == 500 and not started_answer[0]:
                await problem(500, "internal", "the service failed; see its log")(
                    scope, receive, send
                )
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(label, scope["method"], str(status[0])).inc()

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return False
                try:
                    return self.runtime.registry.token_name(token.strip()) is not None
                except ConnectorError:
                    return False
        return False


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem(exc.status, exc.kind, exc.detail, **exc.extra)


async def _on_connector_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConnectorError)
    return from_error(exc)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kinds = {404: "not-found", 405: "method-not-allowed"}
    return problem(
        exc.status_code, kinds.get(exc.status_code, "http"), headers=dict(exc.headers or {})
    )


def create_app(
    runtime: Runtime,
    *,
    emit: bool = False,
    emit_interval: float = 30.0,
    cors_origins: Sequence[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
) -> Starlette:
    """The service over ``runtime`` (closed when the app shuts down)."""
    metrics = _Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = anyio.Event()
        app.state.stop = stop
        try:
            async with anyio.create_task_group() as group:
                if emit:
                    group.start_soon(run_emitters, runtime, stop, emit_interval)
                app.state.ready = True
                try:
                    yield
                finally:
                    app.state.ready = False
                    stop.set()
        finally:
            await runtime.aclose()

    middleware = [Middleware(_Guard, runtime=runtime, metrics=metrics)]
    if cors_origins:
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["authorization", "content-type"],
            ),
        )
    app = Starlette(
        routes=[
            *probe_routes(),
            *catalog_routes(),
            *connection_routes(),
            *call_routes(),
            *hook_routes(),
            *console_routes(),
        ],
        middleware=middleware,
        exception_handlers={
            HTTPProblem: _on_problem,
            ConnectorError: _on_connector_error,
            HTTPException: _on_http,
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.metrics = metrics.registry
    app.state.max_body = max_body
    app.state.ready = False
    return app
