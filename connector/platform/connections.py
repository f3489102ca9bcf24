"""``/v1/connections``: create, list, read, update, delete and check connections.

A connection is a named, configured instance of a loaded definition: the API origin
(``base_url``), values for the service block's ``env`` templates (``params``), extra
``headers`` and the ``credentials`` (``api_key``, ``basic`` or ``oauth2_client_credentials``).
Credentials are sealed in the state file and never answered again: reads show their kind and
the non-secret parts (user name, token URL, client id) with the secrets masked.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.errors import ConfigurationError, ConnectorError, TransportError, UpstreamError
from connector.platform.bodies import read_model
from connector.platform.problems import HTTPProblem
from connector.platform.registry import Connection
from connector.platform.runtime import Runtime
from connector.types import JSON

__all__ = ["connection_json", "connection_routes", "find_connection"]

_MASK = "********"
_SECRET_PARTS = ("api_key", "password", "client_secret")
_SECRET_NAME = re.compile(r"auth|key|token|secret|password|cookie|session", re.IGNORECASE)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
_URL = r"^https?://[^\s]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiKey(_Body):
    type: Literal["api_key"]
    api_key: Annotated[str, Field(min_length=1, max_length=4096)]


class Basic(_Body):
    type: Literal["basic"]
    username: Annotated[str, Field(min_length=1, max_length=1024)]
    password: Annotated[str, Field(max_length=4096)] = ""


class ClientCredentials(_Body):
    type: Literal["oauth2_client_credentials"]
    token_url: Annotated[str, Field(pattern=_URL, max_length=2048)]
    client_id: Annotated[str, Field(min_length=1, max_length=1024)]
    client_secret: Annotated[str, Field(min_length=1, max_length=4096)]
    scope: Annotated[str, Field(max_length=2048)] | None = None


class NoCredentials(_Body):
    type: Literal["none"]


Credentials = Annotated[ApiKey | Basic | ClientCredentials | NoCredentials, Discriminator("type")]
_Headers = dict[
    Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,100}$")], Annotated[str, Field(max_length=8192)]
]
_Params = dict[
    Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")],
    Annotated[str, Field(max_length=8192)],
]


class NewConnection(_Body):
    name: Annotated[str, Field(pattern=_NAME)]
    definition: Annotated[str, Field(min_length=1, max_length=200)]
    base_url: Annotated[str, Field(pattern=_URL, max_length=2048)] | None = None
    params: _Params = {}
    headers: _Headers = {}
    credentials: Credentials = NoCredentials(type="none")


class ConnectionChange(_Body):
    name: Annotated[str, Field(pattern=_NAME)] | None = None
    base_url: Annotated[str, Field(pattern=_URL, max_length=2048)] | None = None
    params: _Params | None = None
    headers: _Headers | None = None
    credentials: Credentials | None = None


def _masked(values: dict[str, str]) -> dict[str, str]:
    """Headers and params whose names say they carry a secret (``authorization``,
    ``x-api-key``, ``*token*`` ...) are answered masked, like the credentials."""
    return {k: (_MASK if _SECRET_NAME.search(k) else v) for k, v in values.items()}


def connection_json(connection: Connection) -> dict[str, JSON]:
    """A connection as answered: secrets masked, never returned."""
    credentials: dict[str, JSON] = {
        key: (_MASK if key in _SECRET_PARTS else value)
        for key, value in connection.credentials.items()
    }
    from connector.emitter.views import rfc3339

    return {
        "id": connection.id,
        "name": connection.name,
        "definition": connection.definition,
        "base_url": connection.base_url,
        "params": _masked(connection.params),
        "headers": _masked(connection.headers),
        "credentials": credentials,
        "created_at": rfc3339(connection.created_at),
        "updated_at": rfc3339(connection.updated_at),
    }


def runtime_of(request: Request) -> Runtime:
    """The service's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def find_connection(request: Request) -> Connection:
    """The connection named in the path (by id or name), or a 404 problem."""
    key = request.path_params["connection"]
    # The bearer check refreshed the registry's cache for this request already.
    connection = runtime_of(request).registry.get_connection(key, refresh=False)
    if connection is None:
        raise HTTPProblem(
            404,
            "not-found",
            "no such connection",
            errors=[{"location": "connection", "message": "unknown connection"}],
        )
    return connection


async def create_connection(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await read_model(request, NewConnection)
    if runtime.definition(body.definition) is None:
        known = ", ".join(sorted(runtime.definitions))
        raise HTTPProblem(
            422,
            "invalid-input",
            "unknown definition",
            errors=[
                {"location": "/definition", "message": f"not a loaded definition (known: {known})"}
            ],
        )
    connection = runtime.registry.create_connection(
        body.name,
        body.definition,
        base_url=body.base_url,
        params=body.params,
        headers=body.headers,
        credentials=body.credentials.model_dump(exclude_none=True),
    )
    if connection is None:
        raise HTTPProblem(409, "conflict", "a connection with this name exists")
    location = f"/v1/connections/{connection.id}"
    return JSONResponse(
        connection_json(connection), status_code=201, headers={"location": location}
    )


async def list_connections(request: Request) -> Response:
    connections = runtime_of(request).registry.list_connections()
    return JSONResponse({"connections": [connection_json(c) for c in connections]})


async def read_connection(request: Request) -> Response:
    return JSONResponse(connection_json(find_connection(request)))


async def update_connection(request: Request) -> Response:
    runtime = runtime_of(request)
    current = find_connection(request)
    change = await read_model(request, ConnectionChange)
    given = change.model_fields_set
    updated = replace(
        current,
        name=change.name if change.name is not None else current.name,
        base_url=change.base_url if "base_url" in given else current.base_url,
        params=change.params if change.params is not None else current.params,
        headers=change.headers if change.headers is not None else current.headers,
        credentials=change.credentials.model_dump(exclude_none=True)
        if change.credentials is not None
        else current.credentials,
    )
    saved = runtime.registry.update_connection(updated)
    if saved is None:
        raise HTTPProblem(409, "conflict", "a connection with this name exists")
    runtime.forget(current.id)
    return JSONResponse(connection_json(saved))


async def delete_connection(request: Request) -> Response:
    runtime = runtime_of(request)
    connection = find_connection(request)
    runtime.registry.delete_connection(connection.id)
    runtime.drop_hooks(connection.id)
    return Response(status_code=204)


def _probe_operation(runtime: Runtime, connection: Connection) -> tuple[str, str] | None:
    definition = runtime.definitions[connection.definition]
    candidates = [
        (resource.handle, name)
        for resource in definition.resources
        for name, op in resource.operations.items()
        if op.method == "GET"
        and op.response_format == "json"
        and not any(p.required and p.default is None for p in op.placeholders())
    ]
    listed = [c for c in candidates if c[1] == "list"]
    found = listed or candidates
    return found[0] if found else None


async def check_connection(request: Request) -> Response:
    """Configuration, connectivity and authentication, proven by one harmless GET."""
    runtime = runtime_of(request)
    connection = find_connection(request)
    result: dict[str, JSON] = {"connection": connection.id, "ok": False}
    probe = _probe_operation(runtime, connection)
    result["probe"] = f"{probe[0]}.{probe[1]}" if probe else None
    started = time.perf_counter()
    try:
        connector = await runtime.connector(connection)
        result["configuration"] = "ok"
        if probe is None:
            result.update(ok=True, connectivity="unknown", authentication="unknown")
            return JSONResponse(result)
        async for _ in connector.iterate(probe[0], probe[1], max_items=1):
            break
    except ConfigurationError as exc:
        result.update(configuration="failed", detail=str(exc))
    except TransportError as exc:
        result.update(connectivity="failed", detail=str(exc))
    except UpstreamError as exc:
        denied = exc.status in (401, 403)
        result.update(
            connectivity="ok",
            authentication="failed" if denied else "ok",
            upstream={"status": exc.status, "type": exc.error_type, "request_id": exc.request_id},
            detail=str(exc),
        )
    except ConnectorError as exc:
        result.update(connectivity="ok", detail=str(exc))
    else:
        result.update(ok=True, connectivity="ok", authentication="ok")
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return JSONResponse(result)


def connection_routes() -> list[BaseRoute]:
    """The routes of this module."""
    return [
        Route("/v1/connections", list_connections, methods=["GET"]),
        Route("/v1/connections", create_connection, methods=["POST"]),
        Route("/v1/connections/{connection}", read_connection, methods=["GET"]),
        Route("/v1/connections/{connection}", update_connection, methods=["PATCH"]),
        Route("/v1/connections/{connection}", delete_connection, methods=["DELETE"]),
        Route("/v1/connections/{connection}/check", check_connection, methods=["POST"]),
    ]
