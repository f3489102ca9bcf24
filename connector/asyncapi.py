"""An AsyncAPI 3.1 description of a definition's synthetic webhooks.

Subscribers can mock, generate code for, and contract-test the receiving side from it (for
instance by importing it into Microcks). Each webhook becomes a channel at its ``path`` (joined
to the subscriber's URL), one message whose payload is ``{"type", "timestamp", "data"}`` with
``data`` typed from the webhook's payload fields, and the Standard Webhooks headers.

    connector asyncapi --out webhooks.asyncapi.json
"""

from __future__ import annotations

from typing import Any

from .definitions import Definition, Field, Webhook

__all__ = ["webhooks_asyncapi"]

_TYPES: dict[str, dict[str, Any]] = {
    "String": {"type": ["string", "null"]},
    "Integer": {"type": ["integer", "null"]},
    "Number": {"type": ["number", "null"]},
    "Boolean": {"type": ["boolean", "null"]},
    "DateTime": {"type": ["string", "null"], "format": "date-time"},
    "Object": {"type": ["object", "null"]},
    "Array": {"type": ["array", "null"]},
}

_HEADERS = {
    "type": "object",
    "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
    "properties": {
        "webhook-id": {
            "type": "string",
            "description": "The event id: the same on every retry and replay; dedupe on it.",
        },
        "webhook-timestamp": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Seconds since the epoch of this attempt (not of the event).",
        },
        "webhook-signature": {
            "type": "string",
            "description": "Space-separated 'v1,<base64 HMAC-SHA256 of id.timestamp.body>' "
            "entries, one per valid secret (two during a rotation).",
        },
    },
}


def _data_schema(fields: list[Field]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for field in fields:
        schema = dict(_TYPES[field.type])
        description = (field.meta or {}).get("description")
        if description:
            schema["description"] = description
        properties[field.name] = schema
    return {"type": "object", "properties": properties, "required": list(properties)}


def _message(webhook: Webhook) -> dict[str, Any]:
    return {
        "name": webhook.event,
        "title": webhook.event,
        "summary": (webhook.meta or {}).get("description") or f"Sent when {webhook.event} happens.",
        "contentType": "application/json",
        "headers": _HEADERS,
        "payload": {
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "const": webhook.event},
                "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When it happened, by the API's own clock (e.g. ended_at).",
                },
                "data": _data_schema(webhook.payload),
            },
        },
    }


_ABOUT = (
    "Events the connector emitter detects by polling and delivers as signed Standard Webhooks "
    "(retried with backoff, replayable, at least once: dedupe on webhook-id)."
)


def _text(meta: dict[str, Any] | None, key: str) -> str | None:
    value = (meta or {}).get(key)
    return value if isinstance(value, str) and value else None


def webhooks_asyncapi(definition: Definition) -> dict[str, Any]:
    """The AsyncAPI 3.1 document (as a JSON-ready dict) for every webhook of ``definition``:
    descriptions, tags (one per resource), contact and licence from the definition's ``meta``."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    tags: list[dict[str, str]] = []
    for resource in definition.resources:
        if not resource.webhooks:
            continue
        about = _text(resource.meta, "description") or f"The {resource.handle} resource."
        tags.append({"name": resource.handle, "description": about})
        for webhook in resource.webhooks:
            name = webhook.event
            summary = _text(webhook.meta, "description") or f"Sent when {name} happens."
            messages[name] = _message(webhook)
            channels[name] = {
                "address": webhook.path,
                "title": name,
                "description": "Joined to each subscription's URL; POSTed by the emitter.",
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            }
            operations[f"send.{name}"] = {
                "action": "send",
                "title": f"Deliver {name}",
                "summary": summary,
                "description": f"{summary} Signed with the subscription's secret; a subscriber "
                "answers 2xx to acknowledge, anything else is retried.",
                "channel": {"$ref": f"#/channels/{name}"},
                "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
                "tags": [{"name": resource.handle}],
            }
    meta = definition.connection.meta or {}
    title = (
        _text(meta, "short") or definition.connection.handle or (definition.file or "definition")
    )
    described = _text(meta, "description")
    info: dict[str, Any] = {
        "title": f"{title}: synthetic webhooks",
        "version": _text(meta, "version") or "1.0.0",
        "description": f"{described} {_ABOUT}" if described else _ABOUT,
        "tags": tags,
    }
    for key in ("contact", "license"):
        if isinstance(meta.get(key), dict):
            info[key] = meta[key]
    return {
        "asyncapi": "3.1.0",
        "info": info,
        "servers": {
            "subscriber": {
                "host": "{host}",
                "protocol": "https",
                "title": "A subscriber",
                "description": "Each subscription has its own URL; channel addresses are joined "
                "to it.",
                "variables": {
                    "host": {
                        "description": "The subscription URL's host (and port).",
                        "default": "subscriber.example",
                    }
                },
            }
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
