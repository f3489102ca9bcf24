"""Forms: the JSON Schema (2020-12) of an operation's inputs, derived from its placeholders.

What a low-code platform renders as a form (react-jsonschema-form and its kin read it as is):
one property per placeholder, typed from the placeholder's type, with ``format: date-time``,
``enum`` from ``options``, ``default``, ``title`` from ``label``, ``description`` and the
``required`` list. ``connector describe --json`` and the service's ``/v1/definitions`` give the
same schema, from :func:`operation_schema`; :func:`describe_resource` is the whole
description both give (moved here from the CLI so that the service shares it).

>>> from connector import load_definition
>>> schema = operation_schema(load_definition("definitions/claude-api.json")
...     .resource("messages").operation("create"))  # doctest: +SKIP
>>> schema["required"]  # doctest: +SKIP
['model', 'max_tokens', 'content']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .types import JSON

if TYPE_CHECKING:
    from .definitions import Operation, Placeholder, Resource

__all__ = [
    "SCHEMA_DIALECT",
    "describe_operation",
    "describe_resource",
    "operation_schema",
    "placeholder_schema",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_TYPES: dict[str, dict[str, JSON]] = {
    "String": {"type": "string"},
    "Integer": {"type": "integer"},
    "Number": {"type": "number"},
    "Boolean": {"type": "boolean"},
    "DateTime": {"type": "string", "format": "date-time"},
    "Object": {"type": "object"},
    "Array": {"type": "array"},
}


def placeholder_schema(placeholder: Placeholder) -> dict[str, JSON]:
    """The schema of one placeholder's value."""
    schema: dict[str, JSON] = dict(_TYPES.get(placeholder.type, {}))
    if placeholder.label:
        schema["title"] = placeholder.label
    if placeholder.description:
        schema["description"] = placeholder.description
    if placeholder.options:
        schema["enum"] = list(placeholder.options)
    if placeholder.default is not None:
        schema["default"] = placeholder.default
    if placeholder.secret:
        # A form renders it as a password field; the value is never echoed back.
        schema["writeOnly"] = True
        schema["format"] = "password"
    if placeholder.aliases:
        schema["x-aliases"] = list(placeholder.aliases)
    return schema


def operation_schema(operation: Operation, *, title: str | None = None) -> dict[str, JSON]:
    """The JSON Schema (2020-12) of the object of inputs ``operation`` takes.

    Undeclared inputs are refused by the engine, so the schema says so
    (``additionalProperties: false``); a placeholder that has a default is never required.
    """
    properties: dict[str, JSON] = {}
    required: list[JSON] = []
    for placeholder in operation.placeholders():
        if placeholder.name in properties:
            continue
        properties[placeholder.name] = placeholder_schema(placeholder)
        if placeholder.required and placeholder.default is None:
            required.append(placeholder.name)
    schema: dict[str, JSON] = {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "title": title or f"{operation.handle}.{operation.name}",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    description = (operation.meta or {}).get("description")
    if isinstance(description, str):
        schema["description"] = description
    return schema


def describe_operation(name: str, op: Operation) -> dict[str, JSON]:
    """An operation as ``connector describe --json`` and the service show it."""
    return {
        "name": name,
        "method": op.method,
        "operationId": op.operation_id,
        "response": op.response_format,
        "paginated": op.pagination is not None,
        "description": (op.meta or {}).get("description"),
        "inputSchema": operation_schema(op),
        "placeholders": [
            {
                "name": p.name,
                "type": p.type,
                "required": p.required,
                "description": p.description,
                **({"default": p.default} if p.default is not None else {}),
                **({"options": p.options} if p.options else {}),
                **({"aliases": p.aliases} if p.aliases else {}),
            }
            for p in op.placeholders()
        ],
    }


def describe_resource(resource: Resource) -> dict[str, JSON]:
    """A resource with its fields, operations (each with its input schema) and webhooks."""
    return {
        "handle": resource.handle,
        "endpoint": resource.endpoint.value,
        "description": (resource.meta or {}).get("description"),
        "fields": [{"name": f.name, "type": f.type} for f in resource.fields],
        "operations": [describe_operation(n, op) for n, op in resource.operations.items()],
        "webhooks": [
            {"event": w.event, "path": w.path, "payload": [f.name for f in w.payload]}
            for w in resource.webhooks
        ],
    }
