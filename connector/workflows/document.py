"""Arazzo 1.0 documents: pydantic models, loading from YAML or JSON, located problems.

``load_document`` reads a file, a text or an already parsed object and returns an
:class:`ArazzoDocument`, or raises :class:`~connector.errors.WorkflowDefinitionError` listing
every problem with its location (``workflows[0].steps[1].onSuccess[0].retryLimit``), the value
found and what is allowed. Unknown keys are problems that name the nearest known key;
specification extensions (``x-...``) are allowed everywhere and kept in ``extensions``.

The structural rules live here; the rules that need the whole document (unique ids, goto
targets, expressions and conditions that compile) live in :mod:`connector.workflows.checks`.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from connector.errors import Problem, WorkflowDefinitionError

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
    "format_location",
    "load_document",
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


def format_location(loc: Sequence[str | int]) -> str:
    """``("workflows", 0, "steps")`` -> ``workflows[0].steps``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_document(
    source: str | Path | Mapping[str, JSON], *, file: str | None = None
) -> ArazzoDocument:
    """Load and validate an Arazzo document from a path, YAML/JSON text or a parsed mapping.

    Raises :class:`WorkflowDefinitionError` listing every problem found, each located.

    >>> doc = load_document("definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml")
    >>> doc.workflows[0].steps[0].operation_id
    'createMessageBatch'
    """
    from .checks import check_document

    data, file = _parse(source, file)
    if not isinstance(data, Mapping):
        raise WorkflowDefinitionError(
            [Problem("", "an Arazzo document is a mapping", found=type(data).__name__)], file=file
        )
    problems = _unknown_keys(data, ArazzoDocument, ())
    try:
        document = ArazzoDocument.model_validate(data)
    except ValidationError as exc:
        problems += [_problem_from(error) for error in exc.errors()]
        raise WorkflowDefinitionError(_dedupe(problems), file=file) from None
    problems += check_document(document)
    if problems:
        raise WorkflowDefinitionError(_dedupe(problems), file=file)
    return document


def _parse(source: str | Path | Mapping[str, JSON], file: str | None) -> tuple[object, str | None]:
    if isinstance(source, Mapping):
        return source, file
    text: str
    if isinstance(source, Path) or ("\n" not in source and not source.lstrip().startswith("{")):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorkflowDefinitionError(
                [Problem("", f"cannot read the document: {exc.strerror}", found=str(path))],
                file=str(path),
            ) from None
        file = file or str(path)
    else:
        text = source
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text), file
        return yaml.safe_load(text), file
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(exc, json.JSONDecodeError):
            where = f"line {exc.lineno}, column {exc.colno}"
        raise WorkflowDefinitionError(
            [Problem("", f"not valid YAML or JSON at {where}: {exc}".replace("\n", " "))], file=file
        ) from None


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for problem in problems:
        if (problem.location, problem.message) not in seen:
            seen.add((problem.location, problem.message))
            kept.append(problem)
    return kept


_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "literal_error": "is not one of the allowed values",
    "string_pattern_mismatch": "does not match the required pattern",
    "greater_than_equal": "must not be negative",
    "too_short": "must not be empty",
}


def _problem_from(error: Mapping[str, Any]) -> Problem:
    loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    kind = str(error["type"])
    context = error.get("ctx") or {}
    allowed = None
    if kind == "literal_error":
        allowed = str(context.get("expected", "")).replace("'", "")
    elif kind == "string_pattern_mismatch":
        allowed = str(context.get("pattern"))
    found = None if kind == "missing" else error.get("input")
    if isinstance(found, Mapping | list):
        found = type(found).__name__
    return Problem(format_location(loc), _MESSAGES.get(kind, str(error["msg"])), found, allowed)


def _unknown_keys(
    data: object, model: type[BaseModel], loc: tuple[str | int, ...]
) -> list[Problem]:
    """Report keys the model does not know, naming the nearest one; recurse into children."""
    if not isinstance(data, Mapping):
        return []
    fields = {
        (f.alias or name): f for name, f in model.model_fields.items() if name != "extensions"
    }
    problems = []
    for key, value in data.items():
        if not isinstance(key, str) or key.startswith("x-"):
            continue
        field = fields.get(key)
        if field is None:
            nearest = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            problems.append(
                Problem(
                    format_location((*loc, key)),
                    f"unknown key{hint}",
                    found=key,
                    allowed=", ".join(sorted(fields)) + ", x-*",
                )
            )
            continue
        problems += _unknown_in(value, field.annotation, (*loc, key))
    return problems


def _unknown_in(value: object, annotation: object, loc: tuple[str | int, ...]) -> list[Problem]:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [p for arg in typing.get_args(annotation) for p in _unknown_in(value, arg, loc)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _unknown_keys(value, annotation, loc)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(annotation)
        return [p for i, v in enumerate(value) for p in _unknown_in(v, item, (*loc, i))]
    if origin is dict and isinstance(value, Mapping):
        item = typing.get_args(annotation)[1]
        return [p for k, v in value.items() for p in _unknown_in(v, item, (*loc, str(k)))]
    return []
