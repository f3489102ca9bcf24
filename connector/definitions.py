"""Definitions: load, validate and compile one definition document.

Two document shapes load (``docs/definitions.md``): a bare JSON array of resources (the seed, with the
service taken from configuration) and a connection document ``{"handle", "meta", "service",
"resources"}``. Loading validates everything against the models (:mod:`connector.models`),
compiles every template and selector once (:mod:`connector.compiler`), and raises one
:class:`~connector.errors.DefinitionError` listing every problem with its file and JSON
location (``resources[1].operations.create.bodyTemplate.placeholders[2].type``).

The loaded :class:`Definition` holds what compiling returned in one place,
``Definition.compiled`` (a frozen :class:`~connector.compiled.CompiledConnection`), and links
each model to its own part of it once, so that ``operation.compiled`` (and ``operation.name``,
``.handle``, ``.paginator``) and ``resource.compiled`` read it directly.

Every model of the format is re-exported here, so ``from connector.definitions import
Operation`` keeps working.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .compiled import CompiledConnection, CompiledResource
from .compiler import compile_connection, compile_steps
from .conventions import Conventions, DeleteReceipt, ErrorEnvelope, Rules, packaged_service
from .corteza import prepare_document
from .definition_parts import Field, Placeholder, Template, TemplateMap
from .documents import read_document
from .errors import DefinitionError, InputError, InputProblem, Problem
from .feed_compiler import check_feeds, feed_documents
from .locations import locate_validation_errors
from .models import (
    Auth,
    Condition,
    Connection,
    Multipart,
    MultipartPart,
    Operation,
    Probe,
    Resource,
    ResponseSpec,
    Service,
    StreamRule,
    Trigger,
    Webhook,
    definition_json_schema,
)
from .multistep import ConnectionOperation, hidden_handle, step_documents
from .pagination import (
    CursorPagination,
    HeaderCursorPagination,
    LinkPagination,
    OffsetPagination,
    PageNumberPagination,
    PageTokenPagination,
)
from .pulls.spec import Child, ChildWhere, Incremental

__all__ = [
    "Auth",
    "Child",
    "ChildWhere",
    "Condition",
    "Connection",
    "Conventions",
    "CursorPagination",
    "Definition",
    "DeleteReceipt",
    "ErrorEnvelope",
    "Field",
    "HeaderCursorPagination",
    "Incremental",
    "LinkPagination",
    "Multipart",
    "MultipartPart",
    "OffsetPagination",
    "Operation",
    "PageNumberPagination",
    "PageTokenPagination",
    "Placeholder",
    "Probe",
    "Resource",
    "ResponseSpec",
    "Service",
    "StreamRule",
    "Template",
    "TemplateMap",
    "Trigger",
    "Webhook",
    "definition_json_schema",
    "load_definition",
]


class Definition:
    """A loaded, compiled definition: ``resources``, ``service``, lookups by handle and id."""

    def __init__(
        self,
        connection: Connection,
        compiled: CompiledConnection,
        *,
        file: str | None,
        bare: bool,
        notes: list[str] | None = None,
        hidden: list[Resource] | None = None,
    ) -> None:
        self.connection = connection
        self.compiled = compiled
        """Everything loading compiled (:mod:`connector.compiled`), read at run time."""
        self.file = file
        self.bare = bare
        self.notes = list(notes or [])
        """What loading accepted but ignores (a Corteza export's stored-connection metadata)."""
        self.conventions: Rules = (
            compiled.service.conventions if compiled.service is not None else packaged_service()[0]
        )
        """The compiled conventions (a bare array's come from the packaged definition)."""
        self._by_handle = {r.handle: r for r in [*connection.resources, *(hidden or [])]}
        _link(self._by_handle.values(), compiled)
        self._operations = {op.handle: op for op in connection.operations}
        for handle, operation in self._operations.items():
            operation._compiled = compiled.multisteps[handle]
        self._by_operation_id = {
            op.operation_id: (r, name, op)
            for r in connection.resources
            for name, op in r.operations.items()
            if op.operation_id
        }

    @property
    def resources(self) -> list[Resource]:
        """The resources, in document order."""
        return self.connection.resources

    @property
    def service(self) -> Service | None:
        """The service block, or None for a bare resource array."""
        return self.connection.service

    def resource(self, handle: str) -> Resource:
        """The resource with ``handle``, or an InputError naming the closest handle."""
        try:
            return self._by_handle[handle]
        except KeyError:
            from difflib import get_close_matches

            close = get_close_matches(handle, self._by_handle, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(self._by_handle)
            raise InputError(
                [InputProblem("resource", f"unknown resource (known: {known}){hint}", handle)]
            ) from None

    @property
    def operations(self) -> dict[str, ConnectionOperation]:
        """The top-level multi-step operations by handle."""
        return self._operations

    def multistep(self, handle: str) -> ConnectionOperation:
        """The multi-step operation ``handle``, or an InputError naming the known ones."""
        try:
            return self._operations[handle]
        except KeyError:
            known = ", ".join(self._operations) or "none"
            problem = InputProblem("operation", f"no such operation (known: {known})", handle)
            raise InputError([problem]) from None

    def find_operation(self, operation_id: str) -> tuple[Resource, str, Operation] | None:
        """The resource, name and operation carrying ``operationId``, or None."""
        return self._by_operation_id.get(operation_id)

    @property
    def environment_variables(self) -> list[str]:
        """The environment variables the service templates read (declared in
        ``service.variables``; nothing else is ever read from the environment)."""
        service = self.connection.service
        return sorted(set(service.variables.values())) if service is not None else []

    def __repr__(self) -> str:
        return f"<Definition {self.file or '<memory>'}: {len(self.resources)} resources>"


def load_definition(
    source: str | Path | Mapping[str, Any] | list[Any], *, file: str | None = None
) -> Definition:
    """Load, validate and compile a definition from a path, JSON text or Python object.

    A ``str`` that starts with ``[`` or ``{`` (after white space) is JSON text; any other
    ``str`` or a ``Path`` is a file to read. Raises DefinitionError listing every problem.
    """

    data, file = read_document(source, file)
    bare = isinstance(data, list)
    document, notes, unsupported = prepare_document(data, bare=bare)
    if bare:
        document = {"resources": data}
    from pydantic import ValidationError

    # Load allocates many long-lived objects and frees none: the cyclic collector would walk
    # the growing heap again and again (load time quadratic in resources), so it waits.
    collecting = gc.isenabled()
    gc.disable()
    try:
        connection = Connection.model_validate(document)
        compiled, problems = compile_connection(connection, bare=bare)
    except ValidationError as exc:
        # Unknown keys are matched against every key of the format, from these models.
        models = list(globals().values())
        problems = unsupported + locate_validation_errors(exc, bare=bare, models=models)
        raise DefinitionError(problems, file=file) from None
    finally:
        if collecting:
            gc.enable()
    problems = unsupported + problems
    hidden: list[Resource] = []
    if connection.operations:
        settings = {p.name for p in connection.service.params} if connection.service else set()
        located: list[tuple[list[str | int], Resource]] = []
        for index, operation in enumerate(connection.operations):
            resource = Resource.model_validate(
                {
                    "handle": hidden_handle(operation.handle),
                    "endpoint": "",
                    "operations": step_documents(operation),
                }
            )
            hidden.append(resource)
            located.append((["operations", index], resource))
        steps, multisteps, step_problems = compile_steps(
            connection.operations, located, bare=bare, settings=settings
        )
        problems += step_problems
    else:
        steps, multisteps = {}, {}
    feeds, feed_problems = _feed_resources(connection, hidden, bare=bare)
    problems += feed_problems
    if problems:
        raise DefinitionError(problems, file=file)
    assert compiled is not None  # no problem: every part compiled
    compiled = dataclasses.replace(
        compiled,
        resources=MappingProxyType({**compiled.resources, **steps, **feeds}),
        multisteps=MappingProxyType(multisteps),
    )
    return Definition(connection, compiled, file=file, bare=bare, notes=notes, hidden=hidden)


def _feed_resources(
    connection: Connection, hidden: list[Resource], *, bare: bool
) -> tuple[dict[str, CompiledResource], list[Problem]]:
    """Each feed's calls as a hidden resource (:mod:`connector.feeds`), compiled at load."""
    problems = check_feeds(connection, bare=bare)
    settings = {p.name for p in connection.service.params} if connection.service else set()
    located: list[tuple[list[str | int] | dict[str, list[str | int]], Resource]] = []
    for where, document in feed_documents(connection.resources):
        resource = Resource.model_validate(document)
        hidden.append(resource)
        located.append((where, resource))
    compiled, _, step_problems = compile_steps([], located, bare=bare, settings=settings)
    return compiled, problems + step_problems


def _link(resources: Iterable[Resource], compiled: CompiledConnection) -> None:
    """Give each model its part of ``compiled``, once: ``resource.compiled``,
    ``operation.compiled``, ``child.compiled`` then read it without a lookup (multi-step
    operations are linked in :class:`Definition`). The compiled objects are frozen; the
    loader is the only place that sets the models' links."""
    for resource in resources:
        part = compiled.resources[resource.handle]
        resource._compiled = part
        for name, operation in resource.operations.items():
            operation._compiled = part.operations[name]
        for child, child_part in zip(resource.children, part.children, strict=True):
            child._compiled = child_part
