"""The tree's root and the errors of loading, input, transport, responses and destinations
(the whole tree and its one import path: :mod:`connector.errors`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ConnectorError(Exception):
    """The root of every error connector raises on purpose."""


class ConfigurationError(ConnectorError):
    """A setting is missing or wrong (API key, base URL, an option's value).

    ``setting`` names the variable or flag to fix (``ANTHROPIC_API_KEY`` / ``--api-key``).
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a document, located precisely.

    ``location`` is a JSON location such as
    ``resources[1].operations.create.bodyTemplate.placeholders[2].type``.
    """

    location: str
    message: str
    found: object = None
    allowed: str | None = None

    def __str__(self) -> str:
        text = f"{self.location or '<document>'}: {self.message}"
        if self.found is not None:
            text += f" (found {_short(self.found)})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _ProblemsMixin:
    problems: list[Problem]
    file: str | None

    def _render(self, title: str) -> str:
        where = f" in {self.file}" if self.file else ""
        lines = [f"{title}{where}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class DefinitionError(_ProblemsMixin, ConnectorError):
    """A definition that cannot load; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem], *, file: str | None = None) -> None:
        self.problems = list(problems)
        self.file = file
        super().__init__(self._render("invalid definition"))


@dataclass(frozen=True)
class InputProblem:
    """One wrong input: the parameter, what is wrong, the value seen (never a secret)."""

    parameter: str
    message: str
    found: object = None

    def __str__(self) -> str:
        text = f"{self.parameter}: {self.message}"
        if self.found is not None:
            text += f" (found {_short(self.found)})"
        return text


class InputError(ConnectorError):
    """Inputs to an operation that do not fit its placeholders; ``problems`` lists them all."""

    def __init__(
        self,
        problems: Sequence[InputProblem],
        *,
        resource: str | None = None,
        operation: str | None = None,
    ) -> None:
        self.problems = list(problems)
        self.resource = resource
        self.operation = operation
        where = f" for {resource}.{operation}" if resource and operation else ""
        lines = [f"invalid input{where}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class TransportError(ConnectorError):
    """No HTTP answer came back (connection refused, reset, timed out), even after retries."""

    def __init__(self, message: str, *, url: str | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        self.attempts = attempts


class StreamInterruptedError(TransportError):
    """A streamed answer (server-sent events) broke off: the connection dropped mid-stream, or
    the stream ended before the event that completes it. ``events`` counts what arrived."""

    def __init__(self, message: str, *, url: str | None = None, events: int = 0) -> None:
        super().__init__(message, url=url)
        self.events = events


class PaginationError(ConnectorError):
    """Pagination that cannot go on safely (for instance a cursor that repeats)."""

    def __init__(self, message: str, *, resource: str | None = None, cursor: object = None) -> None:
        super().__init__(message)
        self.resource = resource
        self.cursor = cursor


class ResponseError(ConnectorError):
    """A successful status whose body is not what the operation declares (bad JSON, bad JSONL)."""

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        operation: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.resource = resource
        self.operation = operation
        self.request_id = request_id


class DestinationError(ConnectorError):
    """A data pull's destination (a dlt pipeline) failed to take the records.

    ``destination`` names it (``duckdb``, never with credentials) and ``stage`` the dlt step
    that failed (``extract``, ``normalize``, ``load``); what was extracted stays pending and
    the next run of the same pipeline loads it first.
    """

    def __init__(self, message: str, *, destination: str, stage: str | None = None) -> None:
        super().__init__(message)
        self.destination = destination
        self.stage = stage
