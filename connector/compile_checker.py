"""The problem collector of the load-time pass: compiles one template or selector at a time
and records, located in the document, why one cannot be (:mod:`connector.compiler`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from jinja2.exceptions import SecurityError

from .definition_parts import Placeholder
from .errors import Problem
from .locations import format_location
from .selectors import Selector, SelectorSyntaxError
from .templates import (
    CompiledTemplate,
    Mode,
    RenderError,
    TemplateSyntaxProblem,
    compile_template,
)
from .types import JSON

__all__ = ["SAMPLE", "SELECTOR_ALLOWED", "Checker"]

SELECTOR_ALLOWED = "a list of keys and indices, or JSONPath starting with '$'"

SAMPLE: dict[str, JSON] = {
    "String": "sample",
    "Integer": 1,
    "Number": 1.5,
    "Boolean": True,
    "DateTime": "2025-01-01T00:00:00Z",
    "Object": {"key": "value"},
    "Array": [1, 2],
}
"""A sample value of each placeholder type, to render templates with at load."""


class Checker:
    """Collects the problems of one load, each with its JSON location."""

    def __init__(self, bare: bool) -> None:
        self.settings: set[str] = set()
        """The connection parameters (``service.params``) every template may read."""
        self.bare = bare
        self.problems: list[Problem] = []

    def add(
        self,
        loc: Sequence[str | int],
        message: str,
        found: object = None,
        allowed: str | None = None,
    ) -> None:
        self.problems.append(Problem(format_location(loc, bare=self.bare), message, found, allowed))

    def text(self, loc: list[str | int], text: str, mode: Mode) -> CompiledTemplate | None:
        """Compile the template ``text`` found at ``loc``, or report why it cannot."""
        try:
            return compile_template(text, mode)
        except TemplateSyntaxProblem as exc:
            self.add(loc, str(exc), text)
            return None

    def renders(
        self, loc: list[str | int], compiled: CompiledTemplate, samples: dict[str, JSON]
    ) -> None:
        """Render once with sample values: a template over its budget is refused at load."""
        try:
            compiled.render(samples)
        except SecurityError as exc:
            self.add(loc, str(exc))
        except RenderError:
            pass  # other failures depend on real values; the call reports them

    def selector(self, loc: list[str | int], spec: object) -> Selector | None:
        """Compile the selector ``spec`` found at ``loc``, or report why it cannot."""
        try:
            return Selector(spec)  # type: ignore[arg-type]
        except SelectorSyntaxError as exc:
            self.add(loc, str(exc), spec, SELECTOR_ALLOWED)
            return None

    def unique_placeholders(
        self, loc: list[str | int], placeholders: Iterable[Placeholder]
    ) -> None:
        seen: set[str] = set()
        for index, placeholder in enumerate(placeholders):
            names = [placeholder.name, *placeholder.aliases]
            for name in names:
                if name in seen:
                    self.add(
                        [*loc, "placeholders", index, "name"], "placeholder declared twice", name
                    )
                seen.add(name)
