"""Arazzo 1.0 documents: the pydantic models of the format.

Loading (YAML or JSON, located problems) is :mod:`connector.workflows.loader`, which checks
what needs the whole document with :mod:`connector.workflows.checks`; both import these
models, and these import neither (no import circle).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from .expressions import JSON

__all__ = [
    "Action",
    "ArazzoDocument",
    "Components",
    "Criterion",
    "Info",
    "Parameter",
    "PayloadReplacement",
    "RequestBody",
    "SourceDescription",
    "Step",
    "Workflow",
]


class _Node(BaseModel):
    """Common configuration: camelCase keys, strict types, ``x-`` extensions set aside."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        extra="ignore",  # unknown keys are reported by _unknown_keys, with the nearest name
        frozen=True,
    )

    extensions: dict[str, JSON] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _collect_extensions(cls, data: object) -> object:
        if isinstance(data, Mapping):
            extensions = {
                k: v for k, v in data.items() if isinstance(k, str) and k.startswith("x-")
            }
            if extensions:
                data = {k: v for k, v in data.items() if k not in extensions}
                data["extensions"] = extensions
        return data


class Info(_Node):
    """The document's metadata."""

    title: str
    summary: str | None = None
    description: str | None = None
    version: str


class SourceDescription(_Node):
    """A named API description the steps' operations come from."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    url: str
    type: Literal["openapi", "arazzo"] | None = None


class Parameter(_Node):
    """A step or action parameter, or a reusable reference to one in ``components``.

    ``value`` may be a constant, a runtime expression or a string embedding ``{$...}``.
    """

    name: str | None = None
    in_: Literal["path", "query", "header", "cookie"] | None = Field(default=None, alias="in")
    value: JSON = None
    reference: str | None = None


class Criterion(_Node):
    """One assertion: ``condition`` evaluated as ``type`` (default ``simple``) over ``context``.

    ``type`` is a string or an expression type object ``{type, version}``; it is normalised
    by :attr:`kind`.
    """

    context: str | None = None
    condition: str
    type: JSON = None

    @property
    def kind(self) -> str:
        """The condition's language: ``simple``, ``regex``, ``jsonpath`` or ``xpath``."""
        if isinstance(self.type, Mapping):
            return str(self.type.get("type", "simple"))
        return str(self.type or "simple")


class Action(_Node):
    """A success or failure action: ``end``, ``goto`` or ``retry``, chosen by ``criteria``."""

    name: str | None = None
    type: Literal["end", "goto", "retry"] | None = None
    workflow_id: str | None = None
    step_id: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    retry_limit: int | None = Field(default=None, ge=0)
    criteria: list[Criterion] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    reference: str | None = None


class PayloadReplacement(_Node):
    """A value set at a JSON pointer ``target`` inside a request body payload."""

    target: str
    value: JSON = None


class RequestBody(_Node):
    """The body a step sends; expressions inside ``payload`` are resolved recursively."""

    content_type: str | None = None
    payload: JSON = None
    replacements: list[PayloadReplacement] = Field(default_factory=list)


class Step(_Node):
    """One step: an operation call (``operationId``/``operationPath``) or a nested workflow."""

    step_id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str | None = None
    operation_id: str | None = None
    operation_path: str | None = None
    workflow_id: str | None = None
    parameters: list[Parameter] = Field(default_factory=list)
    request_body: RequestBody | None = None
    success_criteria: list[Criterion] = Field(default_factory=list)
    on_success: list[Action] = Field(default_factory=list)
    on_failure: list[Action] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)


class Workflow(_Node):
    """A workflow: inputs (a JSON Schema), ordered steps, default actions, outputs."""

    workflow_id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    summary: str | None = None
    description: str | None = None
    inputs: dict[str, JSON] | None = None
    depends_on: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    success_actions: list[Action] = Field(default_factory=list)
    failure_actions: list[Action] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    parameters: list[Parameter] = Field(default_factory=list)


class Components(_Node):
    """Reusable inputs schemas, parameters and actions (``$components.<kind>.<name>``)."""

    inputs: dict[str, dict[str, JSON]] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    success_actions: dict[str, Action] = Field(default_factory=dict)
    failure_actions: dict[str, Action] = Field(default_factory=dict)


class ArazzoDocument(_Node):
    """A whole Arazzo document."""

    arazzo: str = Field(pattern=r"^1\.0\.\d+$")
    info: Info
    source_descriptions: list[SourceDescription] = Field(min_length=1)
    workflows: list[Workflow] = Field(min_length=1)
    components: Components = Field(default_factory=Components)

    def workflow(self, workflow_id: str) -> Workflow | None:
        """The workflow with this id, or None."""
        return next((w for w in self.workflows if w.workflow_id == workflow_id), None)
