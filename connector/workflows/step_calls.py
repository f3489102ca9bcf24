"""A step's exchange with its operation: the call it builds (parameters by place, the body with
its replacements) and how its answer is read (JSON, JSONL, text; a ``Retry-After`` header)."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from pathlib import Path

from connector.output_files import replacing

from .binding import NO_BODY, OperationCall, OperationRef, OperationResponse
from .bound import BoundDocument
from .document import Step, Workflow
from .expressions import JSON, Scope, resolve_pointer, resolve_value

__all__ = ["build_call", "read_body", "retry_after"]


def build_call(
    bound: BoundDocument, ref: OperationRef, workflow: Workflow, step: Step, scope: Scope
) -> OperationCall:
    """The operation call a step makes: its parameters by place, its body with replacements."""
    buckets: dict[str, dict[str, JSON]] = {"path": {}, "query": {}, "header": {}, "cookie": {}}
    for parameter in [*workflow.parameters, *step.parameters]:
        resolved = bound.parameter(parameter)
        buckets[resolved.in_ or "query"][str(resolved.name)] = resolve_value(resolved.value, scope)
    headers = {name: _header_text(value) for name, value in buckets["header"].items()}
    if buckets["cookie"]:
        headers["cookie"] = "; ".join(
            f"{k}={_header_text(v)}" for k, v in buckets["cookie"].items()
        )
    body: JSON = NO_BODY
    if step.request_body is not None:
        body = resolve_value(step.request_body.payload, scope)
        for replacement in step.request_body.replacements:
            body = _replace_at(body, replacement.target, resolve_value(replacement.value, scope))
        if step.request_body.content_type:
            headers.setdefault("content-type", step.request_body.content_type)
    return OperationCall(ref, buckets["path"], buckets["query"], headers, body)


def read_body(ref: OperationRef, response: OperationResponse, results_out: Path | None) -> JSON:
    """A step's answer body: JSON, JSONL as a list (or streamed to ``results_out``), or text."""
    content_type = str(response.headers.get("content-type", ""))
    jsonl = ref.response_format == "jsonl" or "jsonl" in content_type or "ndjson" in content_type
    if jsonl and response.status_code < 400:
        lines = (line for line in response.iter_lines() if line.strip())
        if results_out is not None:
            count = 0
            with replacing(results_out) as out:
                for line in lines:
                    out.write(line.rstrip("\r\n") + "\n")
                    count += 1
            return {"path": str(results_out), "count": count}
        return [json.loads(line) for line in lines]
    raw = response.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _header_text(value: JSON) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a ``Retry-After`` header asks for (seconds or an HTTP date), or None."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _replace_at(document: JSON, pointer: str, value: JSON) -> JSON:
    """A copy of ``document`` with ``value`` set at the JSON pointer (parents must exist)."""
    if pointer == "":
        return value
    parts = pointer.split("/")[1:]
    document = json.loads(json.dumps(document))
    parent = resolve_pointer(document, "/" + "/".join(parts[:-1])) if len(parts) > 1 else document
    key = parts[-1].replace("~1", "/").replace("~0", "~")
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        parent[int(key)] = value
    elif isinstance(parent, list) and key == "-":
        parent.append(value)
    return document
