"""``connector workflow generate HANDLE``: an Arazzo document written from a definition.

For a resource with a ``create``, a ``read``, a webhook with a ``transition`` trigger and an
operation whose response is JSONL, the flow is the seed's: submit, poll ``read`` until the
trigger's selector reaches its ``to`` value, then retrieve the JSONL results. Any other
resource with ``create`` and ``read`` gets create → read. The document is portable (the
awaited state is a success criterion with an ``onFailure`` retry; ``jsonpath`` conditions are
RFC 9535 filters), so it runs on connector and on other runners with the OpenAPI description
``connector openapi`` writes (its ``sourceDescriptions`` entry; ``--source-url``).

Inputs are the create body's placeholders (typed as they are) and ``apiKey``; the body is the
create's body template with each placeholder replaced by ``$inputs.<name>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from connector.definitions import Definition, Operation, Placeholder, Resource, Trigger
from connector.errors import InputError, InputProblem
from connector.openapi_schemas import type_schema
from connector.templates import RenderError

__all__ = ["generate_workflow"]

_MARK = re.compile(r"~ph~([A-Za-z_][A-Za-z0-9_]*)~")
RETRY_AFTER = 30
RETRY_LIMIT = 2880  # 24 h of 30 s polls: the batch SLA


def _camel(text: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    return words[0].lower() + "".join(w.title() for w in words[1:]) if words else "api"


def _payload(value: Any) -> Any:
    """The rendered body with every marker turned into ``$inputs.<name>``."""
    if isinstance(value, str):
        match = _MARK.fullmatch(value)
        if match:
            return f"$inputs.{match.group(1)}"
        return _MARK.sub(lambda m: "{$inputs." + m.group(1) + "}", value)
    if isinstance(value, list):
        return [_payload(item) for item in value]
    if isinstance(value, dict):
        return {key: _payload(item) for key, item in value.items()}
    return value


def _body(resource: Resource, operation: Operation) -> tuple[Any, list[Placeholder]]:
    template = operation.body_template
    body = operation.compiled.plan.body
    if template is None or body is None:
        problem = f"{resource.handle}.create has no JSON body template (multipart or none)"
        raise InputError([InputProblem("handle", f"cannot generate: {problem}", resource.handle)])
    values = {p.name: f"~ph~{p.name}~" for p in template.placeholders}
    try:
        rendered = json.loads(body.render(values))
    except RenderError as exc:
        raise InputError(
            [InputProblem("handle", f"cannot generate: the body template does not render ({exc})")]
        ) from None
    return _payload(rendered), template.placeholders


def _pointer(steps: Sequence[str | int]) -> str:
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in steps)


def _filter_path(steps: Sequence[str | int]) -> str:
    return "@" + "".join(f"[{json.dumps(s)}]" if isinstance(s, str) else f"[{s}]" for s in steps)


def _headers(definition: Definition, resource: Resource) -> list[dict[str, Any]]:
    from connector.requests import resolve_service

    service = resolve_service(definition, api_key="key", env={})
    parameters: list[dict[str, Any]] = []
    if service.auth_header:
        parameters.append({"name": service.auth_header, "in": "header", "value": "$inputs.apiKey"})
    fixed = dict(definition.service.headers) if definition.service else {}
    fixed.update(resource.headers.value if resource.headers else {})
    for name, value in fixed.items():
        if "{" not in value:
            parameters.append({"name": name, "in": "header", "value": value})
    return parameters


def _path_parameters(operation: Operation, value: str) -> list[dict[str, Any]]:
    return [
        {"name": p.aliases[0] if p.aliases else p.name, "in": "path", "value": value}
        for p in operation.path.placeholders
    ]


def _transition(resource: Resource) -> Trigger | None:
    for webhook in resource.webhooks:
        trigger = webhook.trigger
        if (
            trigger is not None
            and trigger.type == "transition"
            and isinstance(trigger.selector, list)
        ):
            return trigger
    return None


def _results(resource: Resource) -> Operation | None:
    return next((op for op in resource.operations.values() if op.response_format == "jsonl"), None)


def _step(
    step_id: str, operation: Operation, headers: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    step: dict[str, Any] = {"stepId": step_id, "operationId": operation.operation_id}
    step["parameters"] = headers + extra.pop("path", [])
    step.update(extra)
    step.setdefault("successCriteria", [{"condition": "$statusCode == 200"}])
    return step


def generate_workflow(
    definition: Definition, handle: str, *, source_url: str | None = None
) -> dict[str, Any]:
    """The Arazzo 1.0.1 document (a JSON-ready dict) for ``handle``'s flow."""
    resource = definition.resource(handle)
    create, read = resource.operations.get("create"), resource.operations.get("read")
    if create is None or read is None:
        raise InputError(
            [InputProblem("handle", f"{handle} needs a create and a read operation", handle)]
        )
    for name, operation in (("create", create), ("read", read)):
        if not operation.operation_id:
            raise InputError(
                [InputProblem("handle", f"{handle}.{name} has no operationId to name it by")]
            )
    payload, placeholders = _body(resource, create)
    headers = _headers(definition, resource)
    id_steps = list(resource.id_field) if isinstance(resource.id_field, list) else ["id"]
    record_id = "$steps.create.outputs.id"
    steps = [
        _step(
            "create",
            create,
            headers,
            requestBody={"contentType": "application/json", "payload": payload},
            outputs={"id": f"$response.body#{_pointer(id_steps)}"},
        )
    ]
    read_step = _step("read", read, headers, path=_path_parameters(read, record_id))
    read_step["outputs"] = {"record": "$response.body"}
    steps.append(read_step)
    outputs: dict[str, str] = {"id": record_id, "record": "$steps.read.outputs.record"}
    trigger, results = _transition(resource), _results(resource)
    flow = "create, then read"
    if trigger is not None and results is not None and results.operation_id:
        assert isinstance(trigger.selector, list)
        field = _filter_path(trigger.selector)
        wanted = json.dumps(trigger.to)
        flow = "submit, poll until the transition, then retrieve the JSONL results"
        read_step["stepId"] = "poll"
        read_step["successCriteria"].append(
            {
                "context": "$response.body",
                "condition": f"$[?{field} == {wanted}]",
                "type": "jsonpath",
            }
        )
        read_step["onFailure"] = [
            {
                "name": "retryUntilTransition",
                "type": "retry",
                "retryAfter": RETRY_AFTER,
                "retryLimit": RETRY_LIMIT,
                "criteria": [
                    {"condition": "$statusCode == 200"},
                    {
                        "context": "$response.body",
                        "condition": f"$[?{field} != {wanted}]",
                        "type": "jsonpath",
                    },
                ],
            }
        ]
        results_step = _step("results", results, headers, path=_path_parameters(results, record_id))
        results_step["outputs"] = {"results": "$response.body"}
        steps.append(results_step)
        outputs = {
            "id": record_id,
            "record": "$steps.poll.outputs.record",
            "results": "$steps.results.outputs.results",
        }
    properties: dict[str, Any] = {
        "apiKey": {"type": "string", "description": "The API key the service's auth sends."}
    }
    for placeholder in placeholders:
        schema = type_schema(placeholder.type)
        if placeholder.description:
            schema["description"] = placeholder.description
        properties[placeholder.name] = schema
    required = ["apiKey", *(p.name for p in placeholders if p.required)]
    title = (resource.meta or {}).get("short") or handle
    source = _camel(definition.connection.handle or "api")
    return {
        "arazzo": "1.0.1",
        "info": {
            "title": f"{title}: {flow}",
            "summary": f"Generated by `connector workflow generate {handle}`.",
            "version": "1.0.0",
        },
        "sourceDescriptions": [
            {
                "name": source,
                "url": source_url or f"{definition.connection.handle or 'api'}.openapi.yml",
                "type": "openapi",
            }
        ],
        "workflows": [
            {
                "workflowId": f"{handle.replace('_', '-')}-flow",
                "summary": flow[0].upper() + flow[1:] + ".",
                "inputs": {"type": "object", "required": required, "properties": properties},
                "steps": steps,
                "outputs": outputs,
            }
        ],
    }
