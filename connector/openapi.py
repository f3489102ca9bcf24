"""An OpenAPI 3.1 description generated from a definition.

Other tools read it where they cannot read a definition: Redocly's Arazzo runner (Respect) finds
a workflow's operations in it, code generators and API consoles render it. What it holds:

* ``servers`` from the service's base URL rendered with an empty environment (the default);
* one path item per route, one operation per definition operation with its ``operationId``
  (two operations on one method and route, like the seed's ``delete`` and ``cancel`` of
  batches: the later one is described, the earlier one's id is kept under
  ``x-connector-operationIds``);
* path, query and header parameters from the placeholders (a path placeholder takes its first
  alias, the API reference's own name: ``message_batch_id``), the service's and resource's fixed
  headers as header parameters with their value as default, the pagination parameter;
* request bodies: the body template rendered with a marker per placeholder, so each placeholder
  is typed where it lands and fixed values keep their JSON type; multipart parts as form data;
* responses from the fields and selectors (every field nullable: the API may omit it or send
  null), list pages from ``records`` and the pagination selectors, JSONL and binary bodies by
  their media types, the ``{"type": "error", "error": {...}}`` envelope for 4XX and 5XX;
* security schemes from ``auth``; info, tags, contact and licence from ``meta``.

    connector openapi --format yaml > definitions/openapi/claude-messages-api.yml
"""

from __future__ import annotations

import json
import re
from typing import Any

from .definitions import Definition, Operation, Resource
from .openapi_schemas import (
    ERROR_SCHEMA,
    fixed_headers,
    map_parameters,
    record_schema,
    request_body,
    responses,
    route,
)

__all__ = ["definition_openapi", "render_openapi"]


# --- document -----------------------------------------------------------------------------


def _security(definition: Definition) -> tuple[dict[str, Any], list[dict[str, list[str]]]]:
    from .requests import resolve_service

    service = definition.service
    if service is None:
        # a bare resource array: the engine sends the configured key as x-api-key
        header = resolve_service(definition, api_key="key", env={}).auth_header or "x-api-key"
        return {"apiKey": {"type": "apiKey", "in": "header", "name": header}}, [{"apiKey": []}]
    auth = service.auth
    if auth.method == "none":
        return {}, []
    if auth.method == "basic":
        return {"basic": {"type": "http", "scheme": "basic"}}, [{"basic": []}]
    header = auth.params.get("header", "authorization")
    if header.lower() == "authorization" and auth.params.get("prefix", "").strip() == "Bearer":
        return {"bearer": {"type": "http", "scheme": "bearer"}}, [{"bearer": []}]
    scheme = {"type": "apiKey", "in": "header", "name": header}
    return {"apiKey": scheme}, [{"apiKey": []}]


def _server(definition: Definition, base_url: str | None) -> dict[str, Any]:
    from .errors import ConfigurationError, InputError
    from .requests import resolve_service

    # Connection parameters (service.params) stay OpenAPI server variables: {owner}.
    params = definition.service.params if definition.service else []
    settings = {p.name: "{" + p.name + "}" for p in params if p.type == "String"}
    try:
        url = resolve_service(definition, base_url=base_url, env={}, settings=settings).base_url
    except (ConfigurationError, InputError):
        url = None
    if url:
        server: dict[str, Any] = {"url": url}
        variables = {
            p.name: {"default": str(p.default or p.name), "description": p.description or p.name}
            for p in params
            if "{" + p.name + "}" in url
        }
        if variables:
            server["variables"] = variables
        return server
    # a bare resource array takes its base URL from configuration (--base-url)
    return {"url": "/", "description": "The configured base URL (--base-url)."}


def _text(meta: dict[str, Any] | None, key: str) -> str | None:
    value = (meta or {}).get(key)
    return value if isinstance(value, str) and value else None


def _operation(
    resource: Resource, name: str, operation: Operation, fixed: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    path, parameters = route(resource, operation)
    parameters += map_parameters(operation.query_params, operation.compiled.query, "query")
    pagination = operation.pagination
    # A link style follows whole URLs: it has no page parameter of its own.
    page_param = getattr(pagination, "param", None)
    if page_param is not None and all(p["name"] != page_param for p in parameters):
        parameters.append(
            {
                "name": page_param,
                "in": "query",
                "required": False,
                "description": "The page to read (the connector follows pages itself).",
                "schema": {"type": "string"},
            }
        )
    parameters += map_parameters(operation.headers, operation.compiled.headers, "header")
    parameters += map_parameters(resource.headers, resource.compiled.headers, "header")
    resource_fixed = {} if resource.headers is None else dict(resource.headers.value)
    parameters += fixed + fixed_headers(resource_fixed, f"{resource.handle} ")
    description = _text(operation.meta, "description")
    summary = _text(operation.meta, "summary") or description or f"{name} {resource.handle}"
    item: dict[str, Any] = {
        "operationId": operation.operation_id or f"{resource.handle}.{name}",
        "summary": summary.split(". ")[0].rstrip("."),
        "tags": [resource.handle],
    }
    if description:
        item["description"] = description
    if parameters:
        item["parameters"] = parameters
    body = request_body(operation)
    if body is not None:
        item["requestBody"] = body
    ref = {"$ref": f"#/components/schemas/{resource.handle}"}
    item["responses"] = responses(operation, ref)
    item["x-connector-operation"] = f"{resource.handle}.{name}"
    return path, item


_SEGMENT = re.compile(r"\{([^}]*)\}")


def _same_route(paths: dict[str, dict[str, Any]], path: str) -> None:
    """A path already described that differs only by parameter names (``{batch_id}`` and
    ``{message_batch_id}``) is the same route: it moves to the later operation's names."""
    shape = _SEGMENT.sub("{}", path)
    for known in list(paths):
        if known != path and _SEGMENT.sub("{}", known) == shape:
            renames = dict(zip(_SEGMENT.findall(known), _SEGMENT.findall(path), strict=True))
            for item in paths[known].values():
                for parameter in item.get("parameters", []):
                    if parameter["in"] == "path":
                        parameter["name"] = renames.get(parameter["name"], parameter["name"])
            paths[path] = paths.pop(known)


def _aliased(item: dict[str, Any]) -> int:
    return sum(
        1
        for p in item.get("parameters", [])
        if p["in"] == "path" and "x-connector-placeholder" in p
    )


def _one_of_two(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two operations on one method and route (``messages.create`` and its streaming twin,
    the seed's ``delete`` and ``cancel``): the one whose path speaks the API's own names
    (aliases) is described, else the first; it gains the other's media types, and the other's
    id is kept under ``x-connector-operationIds``."""
    kept, other = (later, earlier) if _aliased(later) > _aliased(earlier) else (earlier, later)
    ids = [*kept.get("x-connector-operationIds", []), other["operationId"]]
    ids += other.get("x-connector-operationIds", [])
    kept["x-connector-operationIds"] = ids
    content = kept["responses"]["200"]["content"]
    for media, value in other["responses"]["200"]["content"].items():
        content.setdefault(media, value)
    return kept


def definition_openapi(definition: Definition, *, base_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a JSON-ready dict) describing ``definition``'s operations;
    ``base_url`` overrides the service's (and is the only one a bare resource array has)."""
    meta = definition.connection.meta or {}
    service = definition.service
    fixed = fixed_headers(dict(service.headers) if service else {}, "")
    paths: dict[str, dict[str, Any]] = {}
    tags: list[dict[str, Any]] = []
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for resource in definition.resources:
        tags.append(
            {
                "name": resource.handle,
                "description": _text(resource.meta, "description") or resource.handle,
            }
        )
        schemas[resource.handle] = record_schema(
            resource.fields, _text(resource.meta, "description")
        )
        for name, operation in resource.operations.items():
            path, item = _operation(resource, name, operation, fixed)
            _same_route(paths, path)
            methods = paths.setdefault(path, {})
            method = operation.method.lower()
            if method in methods:
                item = _one_of_two(methods[method], item)
            methods[method] = item
    title = _text(meta, "short") or definition.connection.handle or "connector definition"
    info: dict[str, Any] = {"title": title, "version": _text(meta, "version") or "1.0.0"}
    for key in ("description",):
        if _text(meta, key):
            info[key] = meta[key]
    for key in ("contact", "license"):
        if isinstance(meta.get(key), dict):
            info[key] = meta[key]
    schemes, security = _security(definition)
    document: dict[str, Any] = {"openapi": "3.1.0", "info": info}
    document["servers"] = [_server(definition, base_url)]
    if security:
        document["security"] = security
    document["tags"] = tags
    document["paths"] = paths
    components: dict[str, Any] = {
        "schemas": schemas,
        "responses": {
            "Error": {
                "description": "The API refused or failed the call.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    }
    if schemes:
        components["securitySchemes"] = schemes
    document["components"] = components
    return document


def render_openapi(
    definition: Definition, fmt: str = "yaml", *, base_url: str | None = None
) -> str:
    """The document as YAML (default) or JSON text."""
    document = definition_openapi(definition, base_url=base_url)
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    import yaml

    header = "# Generated by `connector openapi` from the definition; do not edit by hand.\n"

    class _Plain(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # shared parts are written out: no &id001 anchors in the document

    return header + yaml.dump(
        document, Dumper=_Plain, sort_keys=False, allow_unicode=True, width=100
    )
