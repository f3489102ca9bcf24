"""The schemas of an OpenAPI description: parameters and request bodies from a definition's
templates and placeholders, response bodies from its fields and selectors.

A body template is rendered with a marker in place of each placeholder (``~ph~name~``), then
read back as JSON, so each placeholder is typed where it lands and fixed values keep their type.
Every response field is nullable: the API may omit it or send null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .definitions import Field, Operation, Placeholder, Resource, TemplateMap
from .selectors import FieldType
from .templates import CompiledTemplate, RenderError

__all__ = [
    "ERROR_SCHEMA",
    "fixed_headers",
    "map_parameters",
    "record_schema",
    "request_body",
    "responses",
    "route",
    "type_schema",
]

_SCALARS: dict[str, dict[str, Any]] = {
    "String": {"type": "string"},
    "Integer": {"type": "integer"},
    "Number": {"type": "number"},
    "Boolean": {"type": "boolean"},
    "DateTime": {"type": "string", "format": "date-time"},
    "Object": {"type": "object"},
    "Array": {"type": "array"},
}
_MARK = re.compile(r"~ph~([A-Za-z_][A-Za-z0-9_]*)~")
_MEDIA = {"json": "application/json", "jsonl": "application/x-jsonl"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "The error envelope every failed call answers with.",
    "required": ["type", "error"],
    "properties": {
        "type": {"type": "string", "const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "description": "invalid_request_error, ..."},
                "message": {"type": "string"},
            },
            "additionalProperties": True,
        },
        "request_id": {"type": ["string", "null"]},
    },
    "additionalProperties": True,
}


def _marker(name: str) -> str:
    return f"~ph~{name}~"


def type_schema(kind: FieldType, *, nullable: bool = False) -> dict[str, Any]:
    schema = dict(_SCALARS[kind])
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def _placeholder_schema(placeholder: Placeholder) -> dict[str, Any]:
    schema = type_schema(placeholder.type)
    if placeholder.description:
        schema["description"] = placeholder.description
    if placeholder.default is not None:
        schema["default"] = placeholder.default
    if placeholder.options:
        schema["enum"] = list(placeholder.options)
    return schema


def _marked_values(placeholders: list[Placeholder]) -> dict[str, Any]:
    return {p.name: _marker(p.name) for p in placeholders}


# --- request side -------------------------------------------------------------------------


def route(resource: Resource, operation: Operation) -> tuple[str, list[dict[str, Any]]]:
    """``/messages/batches/{message_batch_id}`` and its path parameters."""
    placeholders = resource.endpoint.placeholders + operation.path.placeholders
    values = _marked_values(placeholders)
    by_name = {p.name: p for p in placeholders}
    try:
        plan = operation.compiled.plan
        text = plan.endpoint.render(values) + plan.path.render(values)
    except RenderError:
        text = resource.endpoint.value + operation.path.value
    parameters: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        placeholder = by_name[match.group(1)]
        name = placeholder.aliases[0] if placeholder.aliases else placeholder.name
        if all(p["name"] != name for p in parameters):
            parameters.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "description": placeholder.description or name,
                    "schema": type_schema(placeholder.type),
                    # the API reference's name (an alias) for connector's placeholder
                    **(
                        {"x-connector-placeholder": placeholder.name} if placeholder.aliases else {}
                    ),
                }
            )
        return "{" + name + "}"

    return _MARK.sub(replace, text) or "/", parameters


def map_parameters(
    template_map: TemplateMap | None, compiled_map: Mapping[str, CompiledTemplate], where: str
) -> list[dict[str, Any]]:
    if template_map is None:
        return []
    by_name = {p.name: p for p in template_map.placeholders}
    parameters: list[dict[str, Any]] = []
    for key, compiled in compiled_map.items():
        names = sorted(compiled.variables)
        if not names:
            continue  # a fixed value (an accept header): not an input
        placeholder = by_name.get(names[0])
        schema = _placeholder_schema(placeholder) if placeholder else {"type": "string"}
        description = schema.pop("description", None) or key
        parameters.append(
            {
                "name": key,
                "in": where,
                "required": bool(placeholder and placeholder.required),
                "description": description,
                "schema": schema,
            }
        )
    return parameters


def fixed_headers(headers: dict[str, str], scope: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "header",
            "required": True,
            "description": f"Sent on every {scope}call by the connector.",
            "schema": {"type": "string", "default": value},
        }
        for name, value in headers.items()
        if "{" not in value
    ]


def _json_shape(value: Any, placeholders: dict[str, Placeholder]) -> tuple[dict[str, Any], bool]:
    """The schema of a rendered body value and whether it must be present."""
    if isinstance(value, str):
        match = _MARK.fullmatch(value)
        if match and match.group(1) in placeholders:
            placeholder = placeholders[match.group(1)]
            return _placeholder_schema(placeholder), placeholder.required
        return {"type": "string"}, True
    if isinstance(value, bool):
        return {"type": "boolean"}, True
    if isinstance(value, int):
        return {"type": "integer"}, True
    if isinstance(value, float):
        return {"type": "number"}, True
    if isinstance(value, list):
        schema: dict[str, Any] = {"type": "array"}
        if value:
            schema["items"] = _json_shape(value[0], placeholders)[0]
        return schema, True
    if isinstance(value, dict):
        properties: dict[str, Any] = {}
        required: list[str] = []
        for key, item in value.items():
            properties[key], needed = _json_shape(item, placeholders)
            if needed:
                required.append(key)
        return {"type": "object", "properties": properties, "required": required}, True
    return {}, False


def request_body(operation: Operation) -> dict[str, Any] | None:
    if operation.multipart is not None:
        by_name = {p.name: p for p in operation.multipart.placeholders}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for part in operation.multipart.value:
            placeholder = by_name.get(part.source)
            description = (placeholder.description if placeholder else None) or part.name
            if part.kind == "file":
                one = {"type": "string", "format": "binary"}
                properties[part.name] = (
                    {"type": "array", "items": one, "description": description}
                    if part.source == "directory"
                    else {**one, "description": description}
                )
            else:
                properties[part.name] = {"type": "string", "description": description}
            if placeholder and placeholder.required:
                required.append(part.name)
        schema = {"type": "object", "properties": properties, "required": required}
        return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    template = operation.body_template
    body = operation.compiled.plan.body
    if template is None or body is None:
        return None
    try:
        rendered = json.loads(body.render(_marked_values(template.placeholders)))
        schema, _ = _json_shape(rendered, {p.name: p for p in template.placeholders})
    except RenderError:  # includes ValueError (not JSON once rendered): describe it loosely
        schema = {"type": "object", "description": "Rendered from the body template."}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


# --- response side ------------------------------------------------------------------------


def _insert(tree: dict[str, Any], steps: list[str | int], leaf: dict[str, Any]) -> None:
    """Place ``leaf`` at ``steps`` (keys and indices) inside the object schema ``tree``."""
    node = tree
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        if isinstance(step, int) or step == "*":
            node.setdefault("type", ["array", "null"])
            node = node.setdefault("items", {})
            if last:
                node.update(leaf)
            continue
        node.setdefault("type", ["object", "null"])
        child = node.setdefault("properties", {}).setdefault(step, {})
        if last:
            for key, value in leaf.items():
                child.setdefault(key, value)
        node = child


def _open(schema: dict[str, Any]) -> dict[str, Any]:
    """Say ``additionalProperties: true`` on every object schema: fields describe part of a
    record, and strict validators (Respect) would otherwise refuse the keys they leave out."""
    kinds = schema.get("type")
    if kinds == "object" or (isinstance(kinds, list) and "object" in kinds):
        schema.setdefault("additionalProperties", True)
    for child in schema.get("properties", {}).values():
        _open(child)
    if isinstance(schema.get("items"), dict):
        _open(schema["items"])
    return schema


def record_schema(fields: list[Field], description: str | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    for field in fields:
        if isinstance(field.selector, str):
            continue  # a JSONPath selector: its shape is not a simple path
        leaf = type_schema(field.type, nullable=True)
        text = (field.meta or {}).get("description")
        if isinstance(text, str):
            leaf["description"] = text
        _insert(schema, list(field.selector), leaf)
    schema["type"] = "object"
    return _open(schema)


def _path_steps(spec: Any) -> list[str | int] | None:
    return list(spec) if isinstance(spec, list) and spec else None


def _page_schema(operation: Operation, record_ref: dict[str, Any]) -> dict[str, Any]:
    page: dict[str, Any] = {"type": "object"}
    records = _path_steps(operation.records)
    if records is None:
        return record_ref
    _insert(page, [*records, "*"], record_ref)
    pagination = operation.pagination
    if pagination is not None:
        # The body fields each pagination style reads (link and headerCursor read headers).
        selectors: list[tuple[Any, str]] = []
        if pagination.type == "cursor":
            selectors = [(pagination.cursor, "String"), (pagination.has_more, "Boolean")]
        elif pagination.type == "pageToken":
            selectors = [(pagination.token, "String")]
        elif pagination.type in ("offset", "pageNumber") and pagination.total is not None:
            selectors = [(pagination.total, "Integer")]
        for spec, kind in selectors:
            steps = _path_steps(spec)
            if steps:
                _insert(page, steps, type_schema(kind, nullable=True))  # type: ignore[arg-type]
    page["type"] = "object"
    page["properties"][str(records[0])]["type"] = "array"
    return _open(page)


def responses(operation: Operation, record_ref: dict[str, Any]) -> dict[str, Any]:
    fmt = operation.response_format
    if fmt == "binary":
        content: dict[str, Any] = {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
    elif fmt == "jsonl":
        line = {**record_ref, "description": "One JSON object per line."}
        content = {_MEDIA[fmt]: {"schema": {"type": "string", "x-connector-line": line}}}
    elif fmt == "sse":
        events = {"type": "string", "description": "Server-sent events (`event:`/`data:`)."}
        content = {"text/event-stream": {"schema": events}}
    else:
        content = {"application/json": {"schema": _page_schema(operation, record_ref)}}
    error = {"$ref": "#/components/responses/Error"}
    success: dict[str, Any] = {"description": "Success.", "content": content}
    return {"200": success, "4XX": error, "5XX": error}
