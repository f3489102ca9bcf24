"""The workflow runner's errors."""

from __future__ import annotations

from collections.abc import Sequence

from connector.errors.core import ConnectorError, Problem, _ProblemsMixin


class WorkflowError(ConnectorError):
    """The root of the workflow runner's errors."""


class WorkflowDefinitionError(_ProblemsMixin, WorkflowError):
    """An Arazzo document that cannot load; ``problems`` lists every problem with its location."""

    def __init__(self, problems: Sequence[Problem], *, file: str | None = None) -> None:
        self.problems = list(problems)
        self.file = file
        super().__init__(self._render("invalid workflow document"))


class StepFailedError(WorkflowError):
    """A step whose success criteria did not hold (or whose call failed).

    ``workflow_id``, ``step_id``, ``criterion`` (the condition text) and ``value`` (what was
    seen, e.g. the status code) say exactly what failed.
    """

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str,
        step_id: str,
        criterion: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.step_id = step_id
        self.criterion = criterion
        self.value = value
