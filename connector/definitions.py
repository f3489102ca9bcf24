"""Definitions: pydantic models of Corteza's Connections format and this project's extensions.

Two document shapes load (``docs/definitions.md``): a bare JSON array of resources (the seed, with the
service taken from configuration) and a connection document ``{"handle", "meta", "service",
"resources"}``. Loading validates everything, compiles every template and selector, and raises
one :class:`~connector.errors.DefinitionError` listing every problem with its file and JSON
location (``resources[1].operations.create.bodyTemplate.placeholders[2].type``).

The models *are* the format's schema: ``connector schema`` exports it from them.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    PrivateAttr,
    TypeAdapter,
    model_validator,
)
from pydantic import Field as PydanticField

from .compiler import compile_connection, compile_steps
from .conventions import Conventions, DeleteReceipt, ErrorEnvelope, Rules, packaged_service
from .corteza import prepare_document
from .definition_parts import (
    NAME_PATTERN,
    STRICT_CONFIG,
    Field,
    Placeholder,
    SelectorSpec,
    Template,
    TemplateMap,
)
from .documents import read_document
from .errors import DefinitionError, InputError, InputProblem, Problem
from .feeds import FeedSpec, check_feeds, feed_documents
from .locations import locate_validation_errors
from .multistep import ConnectionOperation, hidden_handle, step_documents
from .pagination import (
    CursorPagination,
    HeaderCursorPagination,
    LinkPagination,
    OffsetPagination,
    PageNumberPagination,
    PageTokenPagination,
    Pagination,
    Paginator,
)
from .pulls.spec import Child, ChildWhere, Incremental
from .selectors import Selector
from .shaping import RecordShape
from .types import JSON

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

_NAME = NAME_PATTERN


class _Strict(BaseModel):
    model_config = STRICT_CONFIG


ContentType = Literal[
    "application/json", "application/x-www-form-urlencoded", "multipart/form-data"
]


KeyPath = list[str | int]


class StreamRule(_Strict):
    """Extension: how one server-sent event folds into the final object of a stream
    (:mod:`connector.sse`). ``set`` replaces the object with the event's value at that path;
    ``insert`` puts it in the list at ``into``, index ``at``; ``append`` concatenates its string
    members onto that item's; ``merge`` copies its non-null members into ``into`` (default the
    object itself); ``parseJson`` turns the item's accumulated text member into JSON ``as``."""

    event: str
    set: KeyPath | None = None
    insert: KeyPath | None = None
    append: KeyPath | None = None
    merge: KeyPath | None = None
    parse_json: str | None = PydanticField(default=None, alias="parseJson")
    as_: str | None = PydanticField(default=None, alias="as")
    into: KeyPath = []
    at: KeyPath | None = None


class ResponseSpec(_Strict):
    """How the body is read: ``json`` (default), ``jsonl`` streamed line by line, ``binary``,
    or ``sse`` (server-sent events; extension: ``end`` names the event a complete stream ends
    with, ``error`` the one that carries an error envelope, ``accumulate`` the rules that fold
    the events into the final object)."""

    format: Literal["json", "jsonl", "binary", "sse"] = "json"
    end: str | None = None
    error: str | None = None
    accumulate: list[StreamRule] = []
    text: KeyPath | None = None
    """Extension (``sse``): where an event's data holds text to show as it arrives."""


class MultipartPart(_Strict):
    """One form part: a ``file`` (a path, a directory of files, bytes) or a text ``field``."""

    name: str
    kind: Literal["file", "field"]
    source: Annotated[str, PydanticField(pattern=_NAME)]
    """The placeholder that gives this part its value."""


class Multipart(_Strict):
    """Form parts for uploads; ``value`` lists the parts, ``placeholders`` their inputs."""

    value: list[MultipartPart]
    placeholders: list[Placeholder] = []


Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class Operation(_Strict):
    """One call on a resource: method, path below the endpoint, body, headers, query."""

    method: Method
    path: Template = PydanticField(default_factory=lambda: Template(value=""))
    body_template: Template | None = PydanticField(default=None, alias="bodyTemplate")
    headers: TemplateMap | None = None
    query_params: TemplateMap | None = PydanticField(default=None, alias="queryParams")
    operation_id: str | None = PydanticField(default=None, alias="operationId")
    records: SelectorSpec | None = None
    pagination: Pagination | None = None
    response: ResponseSpec = PydanticField(default_factory=ResponseSpec)
    multipart: Multipart | None = None
    idempotent: bool | None = None
    content_type: ContentType | None = PydanticField(default=None, alias="contentType")
    """How the body is sent (default: the service's ``contentType``, else JSON)."""
    response_map: dict[str, str] | None = PydanticField(default=None, alias="responseMap")
    """Corteza's: output name -> where in the answer (``a.b.0.c`` or JSONPath ``$...``)."""
    creates: bool | None = None
    """Extension: whether a success creates a record (default: POST operations whose answer
    has the resource's id); the emitter's ``created`` events follow it."""
    incremental: Incremental | None = None
    """Extension: how a data pull reads only what changed (:mod:`connector.pulls.spec`)."""
    meta: dict[str, JSON] | None = None

    _name: str = PrivateAttr(default="")
    _handle: str = PrivateAttr(default="")
    _records: Selector | None = PrivateAttr(default=None)
    _paginator: Paginator | None = PrivateAttr(default=None)
    _response_map: dict[str, Selector] | None = PrivateAttr(default=None)
    _plan: Any = PrivateAttr(default=None)
    """The request plan (``connector.request_plans``), made on the first request."""

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return data

    @property
    def name(self) -> str:
        """The operation's name in its resource (``create``, ``list`` ...)."""
        name: str = (self.__pydantic_private__ or {}).get("_name", "")  # fast: every call
        return name

    @property
    def handle(self) -> str:
        """The handle of the resource this operation belongs to."""
        return self._handle

    @property
    def paginator(self) -> Paginator | None:
        """The compiled ``pagination`` block (None for an operation that does not paginate)."""
        return self._paginator

    @property
    def response_format(self) -> str:
        """``json``, ``jsonl``, ``binary`` or ``sse``."""
        return self.response.format

    @property
    def is_creating(self) -> bool:
        """Whether a success creates a record (the emitter's write-through ``created``):
        ``creates`` where declared, else a POST to the resource's collection (empty path)."""
        if self.creates is not None:
            return self.creates
        return self.method == "POST" and self.path.value.strip("/") == ""

    @property
    def is_idempotent(self) -> bool:
        """Whether a retry after an ambiguous failure is safe (default: GET, PUT and DELETE)."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "PUT", "DELETE")

    def placeholders(self) -> list[Placeholder]:
        """Every placeholder of the operation, in the order path, query, headers, body, parts."""
        found: list[Placeholder] = []
        for part in (
            self.path,
            self.query_params,
            self.headers,
            self.body_template,
            self.multipart,
        ):
            if part is not None:
                found.extend(part.placeholders)
        return found

    def body_placeholder_names(self) -> frozenset[str]:
        """The names declared by the body template (not required when a body is given whole)."""
        if self.body_template is None:
            return frozenset()
        return frozenset(p.name for p in self.body_template.placeholders)


class Condition(_Strict):
    """``where`` of a trigger: the selected value compared with ``value``."""

    selector: SelectorSpec
    op: Literal["==", "!=", ">", ">=", "<", "<=", "contains"] = "=="
    """``contains``: the value equals ``value`` or is a list holding it (Corteza's poll filter)."""
    value: JSON = None


class Trigger(_Strict):
    """How the emitter detects a webhook's event (``docs/architecture.md``, "Triggers and the
    poller")."""

    type: Literal["created", "deleted", "transition", "feed"]
    feed: FeedSpec | None = None
    """A ``feed`` trigger's spec: the API's own change cursor (:mod:`connector.feeds`)."""
    selector: SelectorSpec | None = None
    to: JSON = None
    where: Condition | None = None
    time: SelectorSpec | None = None
    """Extension: where the record keeps the event's time (default: ``created_at`` for a
    creation, ``<to>_at`` then ``updated_at`` for a transition)."""


class Webhook(_Strict):
    """An event the emitter delivers: its name, the path joined to the subscriber's URL, and the
    payload fields put in the event's ``data``."""

    event: Annotated[str, PydanticField(pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$")]
    path: str
    payload: list[Field] = []
    trigger: Trigger | None = None
    poll: FeedSpec | None = None
    """Corteza's name for a feed (:mod:`connector.feeds`): the webhook needs no trigger."""
    meta: dict[str, JSON] | None = None
    _shape: RecordShape | None = PrivateAttr(default=None)


class Resource(_Strict):
    """One kind of record of the API: its endpoint, fields, operations and webhooks."""

    handle: Annotated[str, PydanticField(pattern=_NAME)]
    meta: dict[str, JSON] | None = None
    endpoint: Template
    fields: list[Field] = []
    operations: dict[Annotated[str, PydanticField(pattern=_NAME)], Operation] = {}
    webhooks: list[Webhook] = []
    headers: TemplateMap | None = None
    id_field: SelectorSpec = PydanticField(default=["id"], alias="idField")
    children: list[Child] = []
    """Extension: records a data pull fetches per record of this one (:mod:`connector.pulls.spec`)."""
    _shape: RecordShape | None = PrivateAttr(default=None)

    def operation(self, name: str) -> Operation:
        """The named operation, or an InputError that lists the ones there are."""
        try:
            return self.operations[name]
        except KeyError:
            from difflib import get_close_matches

            close = get_close_matches(name, self.operations, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(self.operations) or "none"
            raise InputError(
                [
                    InputProblem(
                        "operation",
                        f"{self.handle} has no operation {name!r} (known: {known}){hint}",
                        name,
                    )
                ]
            ) from None


class Auth(_Strict):
    """``none``, ``api_token`` (params ``token`` and ``header`` with an optional ``prefix``, or
    ``query``), ``basic`` (``username``, ``password``) or ``oauth2_client_credentials``
    (``tokenURL``, ``clientID``, ``clientSecret``, optional ``scopes``, ``audience``,
    ``clientAuth``); see :mod:`connector.auth`. Values are templates over ``env``."""

    method: Literal["none", "api_token", "basic", "oauth2_client_credentials"] = "none"
    params: dict[str, str] = {}


class Probe(_Strict):
    """``service.probe``: a GET of ``path`` (below the base URL) expected to answer
    ``expectedStatus`` (200)."""

    path: Template
    expected_status: Annotated[int, PydanticField(ge=100, le=599)] = PydanticField(
        default=200, alias="expectedStatus"
    )


class Service(_Strict):
    """Where the API lives and how to authenticate; templates here may read only the
    environment variables named in ``variables``."""

    base_url: str = PydanticField(alias="baseURL")
    headers: dict[str, str] = {}
    auth: Auth = Auth()
    variables: dict[
        Annotated[str, PydanticField(pattern=_NAME)], Annotated[str, PydanticField(pattern=_NAME)]
    ] = {}
    """Extension: role → environment variable. The only variables service templates may read
    (``env.X`` for any other is refused at load); ``baseURL`` and ``apiKey`` are the ones that
    ``--base-url`` and ``--api-key`` stand for, other roles name further variables read."""
    conventions: Conventions = Conventions()
    """Extension: how the API's errors, request ids, retries and receipts look."""
    protocol: Literal["http", "https", "HTTP", "HTTPS", "rest", "REST"] | None = None
    """Corteza's: only HTTP APIs are supported."""
    content_type: ContentType | None = PydanticField(default=None, alias="contentType")
    """How request bodies are sent: JSON (default), form-urlencoded or multipart."""
    probe: Probe | None = None
    """Corteza's: the call ``connector check`` makes to prove the connection works."""
    params: list[Placeholder] = []
    """Corteza's connection-level inputs (``--set NAME=VALUE``), readable by name in every
    template (service and endpoints)."""
    meta: dict[str, JSON] | None = None


class Connection(_Strict):
    """A connection document: service plus resources."""

    handle: str | None = None
    meta: dict[str, JSON] | None = None
    service: Service | None = None
    resources: list[Resource]
    operations: list[ConnectionOperation] = []
    """Corteza's top-level multi-step operations (:mod:`connector.multistep`)."""


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema of the definition format (both shapes), exported from the models."""
    adapter: TypeAdapter[Connection | list[Resource]] = TypeAdapter(Connection | list[Resource])
    schema = adapter.json_schema(by_alias=True)
    # The root picks its shape by type (if/then/else), not anyOf: a validator then reports a
    # stray key once, where it is, instead of "the whole document is not valid under any".
    connection, bare = schema.pop("anyOf")
    schema.update({"if": {"type": "array"}, "then": bare, "else": connection})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "connector definition (Corteza Connections format + extensions)"
    return schema


class Definition:
    """A loaded, compiled definition: ``resources``, ``service``, lookups by handle and id."""

    def __init__(
        self,
        connection: Connection,
        *,
        file: str | None,
        bare: bool,
        notes: list[str] | None = None,
        hidden: list[Resource] | None = None,
    ) -> None:
        self.connection = connection
        self.file = file
        self.bare = bare
        self.notes = list(notes or [])
        """What loading accepted but ignores (a Corteza export's stored-connection metadata)."""
        service = connection.service
        self.conventions: Rules = (
            Rules(service.conventions) if service is not None else packaged_service()[0]
        )
        """The compiled conventions (a bare array's come from the packaged definition)."""
        self._by_handle = {r.handle: r for r in [*connection.resources, *(hidden or [])]}
        self._operations = {op.handle: op for op in connection.operations}
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
        problems = compile_connection(connection, bare=bare)
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
        problems += compile_steps(located, bare=bare, settings=settings)
    problems += _feed_resources(connection, hidden, bare=bare)
    if problems:
        raise DefinitionError(problems, file=file)
    return Definition(connection, file=file, bare=bare, notes=notes, hidden=hidden)


def _feed_resources(connection: Connection, hidden: list[Resource], *, bare: bool) -> list[Problem]:
    """Each feed's calls as a hidden resource (:mod:`connector.feeds`), compiled at load."""
    problems = check_feeds(connection, bare=bare)
    settings = {p.name for p in connection.service.params} if connection.service else set()
    located: list[tuple[list[str | int] | dict[str, list[str | int]], Resource]] = []
    for where, document in feed_documents(connection.resources):
        resource = Resource.model_validate(document)
        hidden.append(resource)
        located.append((where, resource))
    return problems + compile_steps(located, bare=bare, settings=settings)
