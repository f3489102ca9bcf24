"""The Corteza Connections format's own shapes, brought to the models' before validation.

A Corteza export carries what a *stored* connection holds besides its definition (ids,
revision, status, timestamps, labels, check results, discovery state). Those keys are accepted
and ignored, each with a note, so an export loads. Templates may be written as Corteza writes
them, a string or ``{"value", "placeholders"}``, in ``service.baseURL``, ``service.headers``
and ``service.auth.params``; the placeholders of those templates become connection parameters
(``service.params``), set with ``--set NAME=VALUE`` or ``Connector(settings=...)``.

A webhook's Corteza ``poll`` spec makes it a feed trigger (:mod:`connector.feeds`): the
emitter runs its seed, list, page token, filter and enrich calls as Corteza does. What the
engine does not support is refused here, plainly, with its location: ``mime_build`` steps of
multi-step ``operations`` and ``oauth2_authorization_code`` auth (it needs a browser).
"""

from __future__ import annotations

from typing import Any

from .errors import Problem
from .locations import format_location
from .selectors import path_selector

__all__ = ["STORED_METADATA", "prepare_document"]

STORED_METADATA = frozenset(
    {
        "connectionID",
        "connectionId",
        "revision",
        "status",
        "createdAt",
        "updatedAt",
        "deletedAt",
        "createdBy",
        "updatedBy",
        "deletedBy",
        "ownedBy",
        "labels",
        "config",
        "discovery",
        "check",
        "checkedAt",
        "source",
        "tenantID",
        "version",
    }
)
"""Top-level keys of a stored Corteza connection that are not part of its definition."""


def _flatten(value: object, loc: list[str | int], params: list[Any]) -> object:
    """``{"value": T, "placeholders": [...]}`` -> ``T``; its placeholders join the params."""
    if isinstance(value, dict) and "value" in value and set(value) <= {"value", "placeholders"}:
        placeholders = value.get("placeholders") or []
        if isinstance(placeholders, list):
            params.extend(placeholders)
        return value["value"]
    return value


def _poll_trigger(webhook: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """A Corteza poll spec: the webhook becomes a feed (:mod:`connector.feeds`), polled as
    Corteza polls it (seed baseline, list from the stored cursor, page token, filter,
    enrich), unless the webhook declares another trigger, which wins."""
    trigger = webhook.get("trigger")
    if trigger is not None and not (isinstance(trigger, dict) and trigger.get("type") == "feed"):
        out = {k: v for k, v in webhook.items() if k != "poll"}
        return out, f"{where}: ignored, the webhook declares a trigger"
    return webhook, (
        f"{where}: runs as a feed trigger (seed, list from the stored cursor, page token, "
        "filter, enrich), its cursor kept in the emitter's store"
    )


def prepare_document(document: object, *, bare: bool) -> tuple[object, list[str], list[Problem]]:
    """The document with Corteza's spellings brought to the models' shapes, the notes to show,
    and the problems of what is not supported. ``document`` is not modified."""
    notes: list[str] = []
    problems: list[Problem] = []
    if bare or not isinstance(document, dict):
        return document, notes, problems
    out = dict(document)
    for key in sorted(STORED_METADATA & out.keys()):
        del out[key]
        notes.append(f"{key}: stored-connection metadata, ignored")
    service = out.get("service")
    if isinstance(service, dict):
        service = dict(service)
        params = (
            list(service.get("params") or []) if isinstance(service.get("params"), list) else None
        )
        found: list[Any] = []
        if "baseURL" in service:
            service["baseURL"] = _flatten(service["baseURL"], ["service", "baseURL"], found)
        if isinstance(service.get("headers"), dict):
            service["headers"] = {
                k: _flatten(v, ["service", "headers", k], found)
                for k, v in service["headers"].items()
            }
        auth = service.get("auth")
        if isinstance(auth, dict):
            auth = dict(auth)
            if isinstance(auth.get("params"), dict):
                auth["params"] = {
                    k: _flatten(v, ["service", "auth", "params", k], found)
                    for k, v in auth["params"].items()
                }
            if auth.get("method") == "oauth2_authorization_code":
                problems.append(
                    Problem(
                        format_location(["service", "auth", "method"], bare=False),
                        "not supported: oauth2_authorization_code needs a browser sign-in; "
                        "obtain a token elsewhere and use api_token",
                        "oauth2_authorization_code",
                    )
                )
            service["auth"] = auth
        if found:
            known = {p.get("name") for p in params or [] if isinstance(p, dict)}
            merged = list(params or [])
            merged += [p for p in found if not (isinstance(p, dict) and p.get("name") in known)]
            service["params"] = merged
        out["service"] = service
    operations = out.get("operations")
    if isinstance(operations, list):
        kept = []
        for o_index, operation in enumerate(operations):
            steps = operation.get("steps") if isinstance(operation, dict) else None
            odd = [
                (s_index, step.get("type"))
                for s_index, step in enumerate(steps or [])
                if isinstance(step, dict) and step.get("type") != "http"
            ]
            for s_index, kind in odd:
                problems.append(
                    Problem(
                        format_location(
                            ["operations", o_index, "steps", s_index, "type"], bare=False
                        ),
                        f"not supported: {kind!r} steps (only 'http' steps run here)",
                        kind,
                    )
                )
            if not odd:
                kept.append(operation)
        out["operations"] = kept
    resources = out.get("resources")
    if isinstance(resources, list):
        out["resources"] = resources = list(resources)
        for r_index, resource in enumerate(resources):
            if not isinstance(resource, dict):
                continue
            webhooks = resource.get("webhooks")
            if not isinstance(webhooks, list):
                continue
            resources[r_index] = resource = {**resource, "webhooks": list(webhooks)}
            for w_index, webhook in enumerate(webhooks):
                if isinstance(webhook, dict) and isinstance(webhook.get("mapping"), dict):
                    # Corteza's mapping (name -> path) means more payload fields.
                    fields = [
                        {"name": name, "type": "String", "selector": path_selector(str(path))}
                        for name, path in webhook["mapping"].items()
                    ]
                    webhook = {k: v for k, v in webhook.items() if k != "mapping"}
                    webhook["payload"] = list(webhook.get("payload") or []) + fields
                    resource["webhooks"][w_index] = webhook
                if isinstance(webhook, dict) and "poll" in webhook:
                    where: list[str | int] = ["resources", r_index, "webhooks", w_index, "poll"]
                    polled, note = _poll_trigger(webhook, format_location(where, bare=False))
                    resource["webhooks"][w_index] = polled
                    notes.append(note)
    return out, notes, problems
