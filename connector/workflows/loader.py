"""Loading Arazzo documents: from YAML or JSON, with every problem located.

``load_document`` reads a file, a text or an already parsed object and returns an
:class:`~connector.workflows.document.ArazzoDocument`, or raises
:class:`~connector.errors.WorkflowDefinitionError` listing every problem with its location
(``workflows[0].steps[1].onSuccess[0].retryLimit``), the value found and what is allowed.
Unknown keys are problems that name the nearest known key; specification extensions
(``x-...``) are allowed everywhere and kept in ``extensions``.

The structural rules are the models' (:mod:`connector.workflows.document`); the rules that
need the whole document (unique ids, goto targets, expressions and conditions that compile)
live in :mod:`connector.workflows.checks`.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from connector.errors import Problem, WorkflowDefinitionError

from .checks import check_document
from .document import ArazzoDocument
from .expressions import JSON

__all__ = ["format_location", "load_document"]


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
