"""The models of the definition format: Corteza's Connections format and this project's
extensions, as pydantic models.

The models *are* the format's schema (``connector schema`` exports it from them, with
:func:`definition_json_schema`). They hold what the document says; what loading compiles from
them (templates, selectors, paginators, request plans, trigger rules) is a separate, frozen
object each model reads through ``.compiled`` (:mod:`connector.compiled`). Loading itself is
:mod:`connector.definitions`; the load-time checks, :mod:`connector.compiler`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, PrivateAttr, TypeAdapter, model_validator
from pydantic import Field as PydanticField

from .compiled import CompiledOperation, CompiledResource, linked_part
from .conventions import Conventions
from .definition_parts import (
    NAME_PATTERN,
    STRICT_CONFIG,
    Field,
    Placeholder,
    SelectorSpec,
    Template,
    TemplateMap,
)
from .errors import InputError, InputProblem
from .feeds import FeedSpec
from .multistep import ConnectionOperation
from .pagination import Pagination, Paginator
from .pulls.spec import Child, Incremental
from .types import JSON

__all__ = [
    "Auth",
    "Condition",
    "Connection",
    "ContentType",
    "Method",
    "Multipart",
    "MultipartPart",
    "Operation",
    "Probe",
    "Resource",
    "ResponseSpec",
    "Service",
    "StreamRule",
    "Trigger",
    "Webhook",
    "definition_json_schema",
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

    _compiled: CompiledOperation | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return data

    @property
    def compiled(self) -> CompiledOperation:
        """What loading compiled from this operation (:mod:`connector.compiled`)."""
        compiled: CompiledOperation = linked_part(self, "operation")
        return compiled

    @property
    def name(self) -> str:
        """The operation's name in its resource (``create``, ``list`` ...)."""
        # No second property call: read on every call, for errors and logs.
        compiled: CompiledOperation = linked_part(self, "operation")
        return compiled.name

    @property
    def handle(self) -> str:
        """The handle of the resource this operation belongs to."""
        return self.compiled.handle

    @property
    def paginator(self) -> Paginator | None:
        """The compiled ``pagination`` block (None for an operation that does not paginate)."""
        return self.compiled.paginator

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
    _compiled: CompiledResource | None = PrivateAttr(default=None)

    @property
    def compiled(self) -> CompiledResource:
        """What loading compiled from this resource (:mod:`connector.compiled`)."""
        compiled: CompiledResource = linked_part(self, "resource")
        return compiled

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
