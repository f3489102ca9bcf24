"""The service's own description and probes: ``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``.

``/healthz`` (no token) says the process answers; ``/readyz`` that it has started and its
state file answers; ``/metrics`` is the Prometheus text format (prometheus-client);
``/openapi.json`` the OpenAPI 3.1 document of every route (:mod:`connector.platform.openapi`).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.errors import ConnectorError
from connector.platform.connections import runtime_of
from connector.platform.openapi import service_openapi
from connector.platform.problems import problem

__all__ = ["probe_routes"]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    if not request.app.state.ready:
        return problem(503, "not-ready", "starting or stopping")
    try:
        runtime_of(request).registry.ping()
    except ConnectorError:
        return problem(503, "store", "the state file does not answer")
    return JSONResponse({"status": "ready", "definitions": len(runtime_of(request).definitions)})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return JSONResponse(service_openapi())


def probe_routes() -> list[BaseRoute]:
    """The routes of this module."""
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
