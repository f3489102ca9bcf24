"""The OpenAPI 3.1 document of the service itself (``GET /openapi.json``).

Written here, route by route, from a few builders; a test checks it with
``openapi-spec-validator`` and that it lists every route the app serves.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from connector import __version__

__all__ = ["service_openapi"]

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ANY: dict[str, Any] = {}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_PARAMS = {
    "connection": _path_param("connection", "The connection's id or name."),
    "definition": _path_param("definition", "A loaded definition's handle."),
    "resource": _path_param("resource", "A resource handle of the definition."),
    "operation": _path_param("operation", "An operation name of the resource."),
    "subscription": _path_param("subscription", "A subscription id."),
    "event": _path_param("event", "An event id (evt_...)."),
}


def _op(
    summary: str,
    *,
    tag: str,
    params: tuple[str, ...] = (),
    query: tuple[dict[str, Any], ...] = (),
    body: str | None = None,
    ok: str = "200",
    answer: dict[str, Any] | None = None,
    secured: bool = True,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "parameters": [_PARAMS[p] for p in params] + list(query),
        "responses": {
            ok: answer
            or {"description": "Success", "content": {"application/json": {"schema": _ANY}}},
            "default": _PROBLEM,
        },
    }
    if ok == "204":
        operation["responses"][ok] = {"description": "Done"}
    if body is not None:
        operation["requestBody"] = {
            "required": body != "Inputs",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    if not secured:
        operation["security"] = []
    else:
        operation["responses"]["401"] = {"description": "No or wrong bearer token (no detail)"}
    if not operation["parameters"]:
        del operation["parameters"]
    return operation


_CREDENTIALS = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "api_key"],
            "properties": {
                "type": {"const": "api_key"},
                "api_key": {"type": "string", "writeOnly": True},
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["type", "username"],
            "properties": {
                "type": {"const": "basic"},
                "username": {"type": "string"},
                "password": {"type": "string", "writeOnly": True},
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["type", "token_url", "client_id", "client_secret"],
            "properties": {
                "type": {"const": "oauth2_client_credentials"},
                "token_url": {"type": "string", "format": "uri"},
                "client_id": {"type": "string"},
                "client_secret": {"type": "string", "writeOnly": True},
                "scope": {"type": "string"},
            },
            "additionalProperties": False,
        },
        {"type": "object", "required": ["type"], "properties": {"type": {"const": "none"}}},
    ]
}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_SCHEMAS: dict[str, Any] = {
    "NewConnection": {
        "type": "object",
        "required": ["name", "definition"],
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"},
            "definition": {"type": "string", "description": "A loaded definition's handle."},
            "base_url": {"type": ["string", "null"], "format": "uri"},
            "params": _STRINGS,
            "headers": _STRINGS,
            "credentials": {"$ref": "#/components/schemas/Credentials"},
        },
        "additionalProperties": False,
    },
    "ConnectionChange": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "base_url": {"type": ["string", "null"], "format": "uri"},
            "params": _STRINGS,
            "headers": _STRINGS,
            "credentials": {"$ref": "#/components/schemas/Credentials"},
        },
        "additionalProperties": False,
    },
    "Credentials": _CREDENTIALS,
    "Inputs": {
        "type": "object",
        "description": "The operation's inputs: see its inputSchema in /v1/definitions.",
    },
    "NewSubscription": {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "events": {"type": "array", "items": {"type": "string"}},
            "secret": {"type": "string", "writeOnly": True},
            "since": {"type": "string", "description": "RFC 3339, epoch seconds or 2h/7d ago"},
        },
        "additionalProperties": False,
    },
    "Rotation": {"type": "object", "properties": {"secret": {"type": "string"}}},
    "Disable": {"type": "object", "properties": {"reason": {"type": "string"}}},
    "Replay": {"type": "object", "properties": {"subscription": {"type": "string"}}},
    "FailedReplay": {
        "type": "object",
        "properties": {
            "since": {"type": "string"},
            "until": {"type": "string"},
            "subscription": {"type": "string"},
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "upstream": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer"},
                    "type": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "request_id": {"type": ["string", "null"]},
                },
            },
        },
    },
}
_CALL_ANSWER = {
    "description": "Records (JSON), every page of a list (NDJSON), or the upstream body streamed",
    "content": {
        "application/json": {"schema": _ANY},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "application/octet-stream": {
            "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
        },
    },
}


@cache
def _document() -> dict[str, Any]:
    c = "/v1/connections/{connection}"
    s = c + "/subscriptions/{subscription}"
    conn = ("connection",)
    sub = ("connection", "subscription")
    html = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
    js = {"description": "Script", "content": {"text/javascript": {"schema": {"type": "string"}}}}
    text = {
        "description": "Prometheus text",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("The process answers", tag="probes", secured=False)},
        "/readyz": {"get": _op("Started and the state store answers", tag="probes")},
        "/metrics": {"get": _op("Prometheus metrics", tag="probes", answer=text)},
        "/openapi.json": {"get": _op("This document", tag="probes")},
        "/": {
            "get": _op("The web console (static shell)", tag="console", answer=html, secured=False)
        },
        "/console.js": {
            "get": _op("The console's script", tag="console", answer=js, secured=False)
        },
        "/v1/definitions": {"get": _op("Loaded definitions", tag="definitions")},
        "/v1/definitions/{definition}": {
            "get": _op(
                "Resources and operations with input schemas",
                tag="definitions",
                params=("definition",),
            )
        },
        "/v1/definitions/{definition}/resources/{resource}/operations/{operation}": {
            "get": _op(
                "One operation and its input schema",
                tag="definitions",
                params=("definition", "resource", "operation"),
            )
        },
        "/v1/definitions/{definition}/asyncapi": {
            "get": _op(
                "AsyncAPI 3.0 of the definition's webhooks", tag="webhooks", params=("definition",)
            )
        },
        "/v1/connections": {
            "get": _op("Every connection (secrets masked)", tag="connections"),
            "post": _op("Create a connection", tag="connections", body="NewConnection", ok="201"),
        },
        c: {
            "get": _op("One connection (secrets masked)", tag="connections", params=conn),
            "patch": _op(
                "Change a connection", tag="connections", params=conn, body="ConnectionChange"
            ),
            "delete": _op(
                "Delete a connection and its webhooks", tag="connections", params=conn, ok="204"
            ),
        },
        c + "/check": {
            "post": _op("Configuration, connectivity and auth", tag="connections", params=conn)
        },
        c + "/resources/{resource}/operations/{operation}": {
            "post": _op(
                "Run an operation",
                tag="calls",
                params=("connection", "resource", "operation"),
                query=(
                    _query("raw", {"type": "boolean"}, "the API's whole answer, not the fields"),
                    _query("max_items", {"type": "integer", "minimum": 0}, "stop a list early"),
                    _query("stream", {"type": "boolean"}, "an SSE operation's events as NDJSON"),
                ),
                body="Inputs",
                answer=_CALL_ANSWER,
            )
        },
        c + "/subscriptions": {
            "get": _op("Subscriptions (no secrets)", tag="webhooks", params=conn),
            "post": _op(
                "Add a subscription; its secret is answered once",
                tag="webhooks",
                params=conn,
                body="NewSubscription",
                ok="201",
            ),
        },
        s: {
            "get": _op("One subscription", tag="webhooks", params=sub),
            "delete": _op("Remove a subscription", tag="webhooks", params=sub, ok="204"),
        },
        s + "/rotate": {
            "post": _op("New secret, answered once", tag="webhooks", params=sub, body="Rotation")
        },
        s + "/enable": {"post": _op("Resume deliveries", tag="webhooks", params=sub)},
        s + "/disable": {
            "post": _op("Pause deliveries", tag="webhooks", params=sub, body="Disable")
        },
        c + "/events": {
            "get": _op(
                "The event log with each event's deliveries",
                tag="webhooks",
                params=conn,
                query=(
                    _query(
                        "status",
                        {"enum": ["pending", "delivering", "delivered", "failed"]},
                        "a delivery status",
                    ),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "at most"),
                ),
            )
        },
        c + "/events/{event}/replay": {
            "post": _op(
                "Send an event again",
                tag="webhooks",
                params=("connection", "event"),
                body="Replay",
                ok="202",
            )
        },
        c + "/events/replay-failed": {
            "post": _op(
                "Send dead letters again",
                tag="webhooks",
                params=conn,
                body="FailedReplay",
                ok="202",
            )
        },
        c + "/deliveries": {
            "get": _op(
                "The delivery log with each delivery's attempts",
                tag="webhooks",
                params=conn,
                query=(
                    _query("subscription", {"type": "string"}, "one subscription"),
                    _query("event", {"type": "string"}, "one event"),
                    _query(
                        "status",
                        {"enum": ["pending", "delivering", "delivered", "failed"]},
                        "a delivery status",
                    ),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "at most"),
                ),
            )
        },
        c + "/health": {
            "get": _op(
                "Delivery health: subscriptions, quarantined records, feeds (as connector status)",
                tag="webhooks",
                params=conn,
                query=(
                    _query(
                        "max_wait", {"type": "number", "minimum": 0}, "seconds an event may wait"
                    ),
                ),
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "connector service",
            "version": __version__,
            "description": "Definitions, connections, calls and webhooks of connector, over HTTP.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
        },
    }


def service_openapi() -> dict[str, Any]:
    """The document (built once)."""
    return _document()
