"""Corteza's top-level multi-step ``operations``: ``input`` fields, ``steps`` of type ``http``
run in order, and ``output`` fields.

How a run goes (``Connector.run(handle, inputs)``):

1. the inputs are typed by their ``input`` fields (a missing required one is an InputError);
2. each ``http`` step is an ordinary operation on the base URL (``method``, ``path``,
   ``headers``, ``queryParams``, ``bodyTemplate``) whose templates may read the inputs, the
   connection parameters and the ``responseMap`` names of the steps before it; its
   ``responseMap`` (``{"name": "path.in.answer"}``) adds those names for the next steps;
3. each ``output`` field is read from the last step's answer by its ``selector`` (compiled at
   load), else taken by its name from what the steps mapped.

Each step is compiled at load like any operation (its templates, placeholders, body), as an
operation of a hidden resource named ``_operation_<handle>`` that ``describe`` does not show.
``mime_build`` steps are refused at load, plainly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field as PydanticField
from pydantic import PrivateAttr

from .compiled import CompiledMultistep, linked_part
from .definition_parts import NAME_PATTERN, Placeholder, SelectorSpec, Strict, Template, TemplateMap
from .errors import InputError, InputProblem
from .placeholders import coerce_inputs
from .selectors import FieldType, Selector, convert_value
from .templates import to_json_text
from .types import JSON

__all__ = ["ConnectionOperation", "OperationRun", "hidden_handle"]


class InputField(Strict):
    """An input of a multi-step operation."""

    name: Annotated[str, PydanticField(pattern=NAME_PATTERN)]
    type: FieldType = "String"
    required: bool = False
    aggregate: bool = False
    description: str | None = None
    meta: dict[str, JSON] | None = None


class OutputField(Strict):
    """An output: read from the last answer by ``selector``, else a mapped name."""

    name: str
    type: FieldType = "String"
    selector: SelectorSpec | None = None
    meta: dict[str, JSON] | None = None


class HTTPAction(Strict):
    """One HTTP call, Corteza's ``ConnectionHTTPAction``."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: Template = Template(value="")
    headers: TemplateMap | None = None
    query_params: TemplateMap | None = PydanticField(default=None, alias="queryParams")
    body_template: Template | None = PydanticField(default=None, alias="bodyTemplate")
    response_map: dict[str, str] | None = PydanticField(default=None, alias="responseMap")


class Step(Strict):
    """A step; only ``http`` runs here."""

    type: Literal["http"]
    http: HTTPAction


class ConnectionOperation(Strict):
    """A top-level operation of a connection document."""

    handle: Annotated[str, PydanticField(pattern=NAME_PATTERN)]
    meta: dict[str, JSON] | None = None
    input: list[InputField] = PydanticField(default_factory=list)
    output: list[OutputField] = PydanticField(default_factory=list)
    steps: Annotated[list[Step], PydanticField(min_length=1)]
    _compiled: CompiledMultistep | None = PrivateAttr(default=None)

    @property
    def compiled(self) -> CompiledMultistep:
        """What loading compiled from this operation (:mod:`connector.compiled`)."""
        compiled: CompiledMultistep = linked_part(self, "multi-step operation")
        return compiled


def hidden_handle(operation: str) -> str:
    """The hidden resource that holds the steps of ``operation``."""
    return f"_operation_{operation}"


def step_documents(operation: ConnectionOperation) -> dict[str, dict[str, object]]:
    """The steps as resource operations (``step0``, ``step1`` ...), each declaring, besides
    its own placeholders, the inputs and the names mapped by earlier steps."""
    known: list[dict[str, object]] = [
        {"name": f.name, "type": f.type, "required": f.required} for f in operation.input
    ]
    documents: dict[str, dict[str, object]] = {}
    for index, step in enumerate(operation.steps):
        http = step.http
        own = {
            p.name
            for part in (http.path, http.headers, http.query_params, http.body_template)
            if part is not None
            for p in part.placeholders
        }
        carried = [p for p in known if p["name"] not in own]
        headers = http.headers.model_dump(by_alias=True) if http.headers else {"value": {}}
        headers["placeholders"] = [*headers.get("placeholders", []), *carried]
        document: dict[str, object] = {
            "method": http.method,
            "path": http.path.model_dump(by_alias=True),
            "headers": headers,
        }
        if http.query_params is not None:
            document["queryParams"] = http.query_params.model_dump(by_alias=True)
        if http.body_template is not None:
            document["bodyTemplate"] = http.body_template.model_dump(by_alias=True)
        if http.response_map is not None:
            document["responseMap"] = http.response_map
        documents[f"step{index}"] = document
        for name in http.response_map or {}:
            if all(p["name"] != name for p in known):
                known.append({"name": name, "type": "String"})
    return documents


class OperationRun:
    """One run of a multi-step operation: which step to send next, with which inputs."""

    def __init__(self, operation: ConnectionOperation, inputs: Mapping[str, JSON]) -> None:
        self.operation = operation
        fields = [
            Placeholder(name=f.name, type=f.type, required=f.required) for f in operation.input
        ]
        self.values: dict[str, JSON] = coerce_inputs(
            fields, inputs, resource=operation.handle, operation="input"
        )
        self.last: JSON = None

    def params(self, declared: list[Placeholder]) -> dict[str, JSON]:
        """The values the next step's placeholders take."""
        out: dict[str, JSON] = {}
        for placeholder in declared:
            if placeholder.name not in self.values:
                continue
            value = self.values[placeholder.name]
            if placeholder.type == "String" and isinstance(value, dict | list):
                value = to_json_text(value)
            out[placeholder.name] = value
        return out

    def take(self, payload: JSON, mapped: Mapping[str, Selector] | None) -> None:
        """Keep a step's answer and the names its ``responseMap`` gives."""
        self.last = payload
        for name, selector in (mapped or {}).items():
            self.values[name] = selector.select(payload)

    def outputs(self) -> dict[str, JSON]:
        """The operation's outputs (all mapped names when it declares none)."""
        if not self.operation.output:
            return {k: v for k, v in self.values.items()}
        result: dict[str, JSON] = {}
        missing: list[InputProblem] = []
        selectors = self.operation.compiled.outputs
        for field, selector in zip(self.operation.output, selectors, strict=True):
            if selector is not None:
                value = selector.select(self.last)
            elif field.name in self.values:
                value = self.values[field.name]
            else:
                missing.append(InputProblem(field.name, "no step mapped this output"))
                continue
            result[field.name] = convert_value(value, field.type)
        if missing:
            raise InputError(missing, resource=self.operation.handle, operation="output")
        return result
