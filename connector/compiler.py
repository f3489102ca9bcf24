"""The load-time pass over a validated definition: compile every template, selector,
paginator, record shape, request plan and trigger rule once, check that every placeholder is
declared and used, and locate every problem in the document.

The compiler reads the models (:mod:`connector.models`) and writes nothing into them: it
returns the frozen objects of :mod:`connector.compiled` with the problems it found, and the
loader (:func:`connector.definitions.load_definition`) keeps them. Operations are compiled by
:mod:`connector.operation_compiler`, the service block by :mod:`connector.service_compiler`,
the data pull blocks by :mod:`connector.pulls.spec_compiler`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import MappingProxyType

from .compile_checker import SAMPLE, Checker
from .compiled import (
    CompiledConnection,
    CompiledMultistep,
    CompiledOperation,
    CompiledResource,
    CompiledWebhook,
)
from .definition_parts import Field
from .definition_rules import path_start_problem, webhook_path_problem
from .errors import Problem
from .feed_compiler import compile_feed, compile_feed_selectors, feed_spec
from .locations import format_location, locate_validation_errors
from .models import Connection, Resource, Webhook
from .multistep import ConnectionOperation
from .operation_compiler import CompiledMap, compile_map, compile_operation
from .pulls.spec_compiler import compile_pulls
from .selectors import Selector
from .service_compiler import compile_service
from .shaping import RecordShape, compile_shape
from .templates import CompiledTemplate
from .trigger_rules import CompiledCondition, Rule, RuleKind

__all__ = [
    "compile_connection",
    "compile_steps",
    "format_location",
    "locate_validation_errors",
]


def compile_connection(
    connection: Connection, *, bare: bool
) -> tuple[CompiledConnection | None, list[Problem]]:
    """Compile every part of ``connection``: what it compiles to (None when anything does
    not), and every problem found."""
    check = Checker(bare)
    service = None
    if connection.service is not None:
        check.settings = {p.name for p in connection.service.params}
        service = compile_service(check, connection.service)
    handles: set[str] = set()
    operation_ids: dict[str, str] = {}
    events: set[str] = set()
    resources: dict[str, CompiledResource | None] = {}
    for r_index, resource in enumerate(connection.resources):
        loc: list[str | int] = ["resources", r_index]
        if resource.handle in handles:
            check.add([*loc, "handle"], "handle used by another resource", resource.handle)
        handles.add(resource.handle)
        resources[resource.handle] = _compile_resource(check, loc, resource, operation_ids, events)
    pulls = compile_pulls(connection)
    for where, message, found in pulls.found:
        check.add(where, message, found)
    if check.problems:
        return None, check.problems
    compiled: dict[str, CompiledResource] = {}
    for handle, resource_compiled in resources.items():
        assert resource_compiled is not None  # no problem: every part compiled
        children = pulls.children.get(handle, [])
        if not children and not any(key[0] == handle for key in pulls.cursors):
            compiled[handle] = resource_compiled
            continue
        operations = {
            name: dataclasses.replace(op, cursor=pulls.cursors[handle, name])
            if (handle, name) in pulls.cursors
            else op
            for name, op in resource_compiled.operations.items()
        }
        compiled[handle] = dataclasses.replace(
            resource_compiled,
            operations=MappingProxyType(operations),
            children=tuple(c for c in children if c is not None),
        )
    return CompiledConnection(service, MappingProxyType(compiled)), check.problems


def compile_steps(
    operations: Sequence[ConnectionOperation],
    located: Sequence[tuple[list[str | int] | dict[str, list[str | int]], Resource]],
    *,
    bare: bool,
    settings: set[str],
) -> tuple[dict[str, CompiledResource], dict[str, CompiledMultistep], list[Problem]]:
    """Compile the operations of hidden resources: the multi-step operations (their
    ``output`` selectors, and their steps ``step0``, ``step1`` ... located at
    ``operations[i].steps[j].http``), or calls whose location is given by name (a feed's,
    :mod:`connector.feeds`)."""
    check = Checker(bare)
    check.settings = settings
    multisteps: dict[str, CompiledMultistep] = {}
    for index, operation in enumerate(operations):
        outputs = tuple(
            check.selector(["operations", index, "output", o_index, "selector"], field.selector)
            if field.selector is not None
            else None
            for o_index, field in enumerate(operation.output)
        )
        multisteps[operation.handle] = CompiledMultistep(outputs)
    compiled: dict[str, CompiledResource] = {}
    for loc, resource in located:
        base = loc if isinstance(loc, list) else []
        endpoint = check.text([*base, "endpoint", "value"], resource.endpoint.value, "path")
        steps: dict[str, CompiledOperation | None] = {}
        for index, name in enumerate(resource.operations):
            at = loc[name] if isinstance(loc, dict) else [*loc, "steps", index, "http"]
            steps[name] = compile_operation(check, at, resource, name, endpoint, None)
        shape, fields = _record_shape(check, [*base, "fields"], resource.fields)
        id_selector = check.selector([*base, "idField"], resource.id_field)
        record = (shape, fields, id_selector)
        built = _resource(resource, endpoint, None, record, steps, ())
        if built is not None:
            compiled[resource.handle] = built
    return compiled, multisteps, check.problems


def _record_shape(
    check: Checker, loc: list[str | int], fields: Sequence[Field]
) -> tuple[RecordShape | None, tuple[Selector, ...]]:
    """The fields compiled into one shaping function, and each field's selector (None while
    a selector is broken: the definition then fails to load anyway)."""
    selectors = [
        check.selector([*loc, index, "selector"], field.selector)
        for index, field in enumerate(fields)
    ]
    if any(selector is None for selector in selectors):
        return None, ()
    compiled = tuple(s for s in selectors if s is not None)
    shape = compile_shape([(f.name, f.type, s) for f, s in zip(fields, compiled, strict=True)])
    return shape, compiled


def _compile_resource(
    check: Checker,
    loc: list[str | int],
    resource: Resource,
    operation_ids: dict[str, str],
    events: set[str],
) -> CompiledResource | None:
    endpoint = check.text([*loc, "endpoint", "value"], resource.endpoint.value, "path")
    problem = path_start_problem(resource.endpoint.value, may_be_empty=False)
    if problem:
        check.add([*loc, "endpoint", "value"], problem, resource.endpoint.value)
    if endpoint is not None and endpoint.variables:
        samples = {p.name: SAMPLE[p.type] for p in resource.endpoint.placeholders}
        check.renders([*loc, "endpoint", "value"], endpoint, samples)
    shape, fields = _record_shape(check, [*loc, "fields"], resource.fields)
    id_selector = check.selector([*loc, "idField"], resource.id_field)
    headers: CompiledMap | None = None
    if resource.headers is not None and resource.operations:
        headers = compile_map(check, [*loc, "headers"], resource.headers)
    operations: dict[str, CompiledOperation | None] = {}
    for name, operation in resource.operations.items():
        op_loc: list[str | int] = [*loc, "operations", name]
        operations[name] = compile_operation(check, op_loc, resource, name, endpoint, headers)
        if operation.operation_id:
            where = f"{resource.handle}.{name}"
            if operation.operation_id in operation_ids:
                check.add(
                    [*op_loc, "operationId"],
                    f"operationId already used by {operation_ids[operation.operation_id]}",
                    operation.operation_id,
                )
            operation_ids[operation.operation_id] = where
    webhooks: list[CompiledWebhook | None] = []
    strings = tuple(s for f, s in zip(resource.fields, fields, strict=False) if f.type == "String")
    for w_index, webhook in enumerate(resource.webhooks):
        w_loc: list[str | int] = [*loc, "webhooks", w_index]
        if webhook.event in events:
            check.add([*w_loc, "event"], "event declared twice", webhook.event)
        events.add(webhook.event)
        webhooks.append(_compile_webhook(check, w_loc, resource.handle, w_index, webhook, strings))
    record = (shape, fields, id_selector)
    return _resource(resource, endpoint, headers, record, operations, webhooks)


def _compile_webhook(
    check: Checker,
    loc: list[str | int],
    handle: str,
    index: int,
    webhook: Webhook,
    strings: tuple[Selector, ...],
) -> CompiledWebhook | None:
    """Compile one webhook: its payload's shape and its trigger rule, declared or by
    convention (``<handle>.created``/``.deleted``, else a transition of any String field),
    or a feed (:mod:`connector.feed_compiler`)."""
    problem = webhook_path_problem(webhook.path)
    if problem:
        check.add([*loc, "path"], problem, webhook.path)
    shape, _ = _record_shape(check, [*loc, "payload"], webhook.payload)
    trigger = webhook.trigger
    selector = where = time = None
    broken = False
    if trigger is not None:
        if trigger.selector is not None:
            selector = check.selector([*loc, "trigger", "selector"], trigger.selector)
            broken |= selector is None
        elif trigger.type == "transition":
            check.add([*loc, "trigger", "selector"], "a transition trigger needs a selector")
        if trigger.where is not None:
            found = check.selector([*loc, "trigger", "where", "selector"], trigger.where.selector)
            if found is not None:
                where = CompiledCondition(trigger.where.op, trigger.where.value, found)
            broken |= found is None
        if trigger.time is not None:
            time = check.selector([*loc, "trigger", "time"], trigger.time)
            broken |= time is None
    found_feed = feed_spec(webhook)
    feed_parts = None
    if found_feed is not None:
        feed_parts = compile_feed_selectors(check, loc, *found_feed)
    if shape is None or broken or (found_feed is not None and feed_parts is None):
        return None
    event, path, names = webhook.event, webhook.path, tuple(f.name for f in webhook.payload)
    if found_feed is not None and feed_parts is not None:
        rule = Rule(event, path, "feed", shape, names, where=where, time=time)
        feed = compile_feed(rule, handle, index, webhook, found_feed, feed_parts)
        return CompiledWebhook(shape, rule, feed)
    if trigger is None:
        suffix = event.rsplit(".", 1)[-1]
        if suffix in ("created", "deleted"):
            kind: RuleKind = "created" if suffix == "created" else "deleted"
            rule = Rule(event, path, kind, shape, names)
        else:
            rule = Rule(event, path, "transition", shape, names, strings, suffix)
    elif trigger.type == "transition":
        selectors = (selector,) if selector is not None else ()
        rule = Rule(event, path, "transition", shape, names, selectors, trigger.to, where, time)
    else:
        rule = Rule(event, path, trigger.type, shape, names, where=where, time=time)
    return CompiledWebhook(shape, rule)


def _resource(
    resource: Resource,
    endpoint: CompiledTemplate | None,
    headers: CompiledMap | None,
    record: tuple[RecordShape | None, tuple[Selector, ...], Selector | None],
    operations: dict[str, CompiledOperation | None],
    webhooks: Sequence[CompiledWebhook | None],
) -> CompiledResource | None:
    """The compiled resource, when every part of it compiled."""
    shape, fields, id_selector = record
    if endpoint is None or shape is None or id_selector is None:
        return None
    if any(op is None for op in operations.values()) or any(w is None for w in webhooks):
        return None
    return CompiledResource(
        handle=resource.handle,
        endpoint=endpoint,
        headers=MappingProxyType(headers[1] if headers else {}),
        shape=shape,
        fields=fields,
        id=id_selector,
        operations=MappingProxyType({k: v for k, v in operations.items() if v is not None}),
        webhooks=tuple(w for w in webhooks if w is not None),
        children=(),
    )
