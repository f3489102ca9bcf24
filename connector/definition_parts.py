"""The parts definitions are built from: placeholders, templates, templated maps and fields.

Split from :mod:`connector.models` (and re-exported by :mod:`connector.definitions`) so that
each module stays one concern: these are the leaves every resource and operation is made of.
What loading compiles from them (templates, selectors) is not kept here but in the frozen
objects of :mod:`connector.compiled` (the request plan of each operation, the record shape
of each resource).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic import Field as PydanticField
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from .selectors import FieldType
from .types import JSON

__all__ = [
    "NAME_PATTERN",
    "Field",
    "Placeholder",
    "SelectorSpec",
    "Strict",
    "Template",
    "TemplateMap",
]

SelectorSpec = list[str | int] | list[str] | str
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = NAME_PATTERN


# Unknown keys are errors (the loader names the nearest known key); camelCase aliases are the
# format's spelling, snake_case the Python one. strict: a definition says `true`, not "yes";
# `1`, not "1" (no silent coercion).
STRICT_CONFIG = ConfigDict(
    extra="forbid", populate_by_name=True, validate_default=False, strict=True
)


class Strict(BaseModel):
    """The base of every model of the format."""

    model_config = STRICT_CONFIG


class Placeholder(Strict):
    """A typed input of a template: what a low-code UI renders as one form field."""

    name: Annotated[str, PydanticField(pattern=_NAME)]
    type: FieldType = "String"
    description: str | None = None
    required: bool = False
    default: JSON = None
    label: str | None = None
    options: list[JSON] | None = None
    aliases: list[Annotated[str, PydanticField(pattern=_NAME)]] = []
    """Extension: other names that bind to this placeholder (the API reference's own names)."""
    secret: bool = False
    """Extension: the value is a secret; it is never echoed in errors or logs."""
    meta: dict[str, JSON] | None = None


def _template_shape(value: object) -> object:
    return {"value": value} if isinstance(value, str) else value


class Template(Strict):
    """A string template: a bare string, or ``{"value": ..., "placeholders": [...]}``."""

    value: str
    placeholders: list[Placeholder] = []

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: object) -> object:
        return _template_shape(data)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The schema must accept both shapes the loader accepts, or the exported schema
        # would refuse definitions that load (a bare-string endpoint, say).
        return {"anyOf": [{"type": "string"}, handler(core_schema)]}


class TemplateMap(Strict):
    """Templated headers or query parameters: ``{"value": {name: template}, "placeholders"}``,
    or a plain ``{name: template}`` map. An entry whose placeholders are all absent is left out."""

    value: dict[str, str]
    placeholders: list[Placeholder] = []

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: object) -> object:
        if isinstance(data, dict) and not ({"value"} <= data.keys() <= {"value", "placeholders"}):
            return {"value": data}
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Both shapes the loader accepts: the plain {name: template} map (claude-api.json's
        # resource headers) and {"value": {...}, "placeholders": [...]}.
        plain = {"type": "object", "additionalProperties": {"type": "string"}}
        return {"anyOf": [plain, handler(core_schema)]}


class Field(Strict):
    """A named, typed value picked out of a record by its selector."""

    name: str
    type: FieldType = "String"
    selector: SelectorSpec
    meta: dict[str, JSON] | None = None
