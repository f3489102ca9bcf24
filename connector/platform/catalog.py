"""``/v1/definitions``: the loaded definitions, their resources and operations, with forms.

Each operation carries ``inputSchema``, the JSON Schema (2020-12) of its inputs from
:func:`connector.forms.operation_schema`: the same as ``connector describe --json``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.definitions import Definition
from connector.forms import describe_operation, describe_resource
from connector.platform.connections import runtime_of
from connector.platform.problems import HTTPProblem
from connector.types import JSON

__all__ = ["catalog_routes"]


def _summary(handle: str, definition: Definition) -> dict[str, JSON]:
    meta = definition.connection.meta or {}
    return {
        "handle": handle,
        "title": meta.get("short"),
        "description": meta.get("description"),
        "resources": [r.handle for r in definition.resources],
        "webhooks": [w.event for r in definition.resources for w in r.webhooks],
    }


def _definition(request: Request) -> tuple[str, Definition]:
    handle = request.path_params["definition"]
    definition = runtime_of(request).definition(handle)
    if definition is None:
        raise HTTPProblem(404, "not-found", "no such definition")
    return handle, definition


async def list_definitions(request: Request) -> Response:
    definitions = runtime_of(request).definitions
    return JSONResponse({"definitions": [_summary(h, d) for h, d in definitions.items()]})


async def read_definition(request: Request) -> Response:
    handle, definition = _definition(request)
    shown = _summary(handle, definition)
    shown["resources"] = [describe_resource(r) for r in definition.resources]
    return JSONResponse(shown)


async def read_operation(request: Request) -> Response:
    _, definition = _definition(request)
    resource = definition.resource(request.path_params["resource"])
    name = request.path_params["operation"]
    return JSONResponse(describe_operation(name, resource.operation(name)))


def catalog_routes() -> list[BaseRoute]:
    """The routes of this module."""
    return [
        Route("/v1/definitions", list_definitions, methods=["GET"]),
        Route("/v1/definitions/{definition}", read_definition, methods=["GET"]),
        Route(
            "/v1/definitions/{definition}/resources/{resource}/operations/{operation}",
            read_operation,
            methods=["GET"],
        ),
    ]
