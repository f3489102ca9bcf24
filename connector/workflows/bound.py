"""A document bound to its executors: operations resolved, criteria compiled, references followed.

Binding happens once, before anything is sent, so that an ``operationId`` the definition does
not have fails at start with its location and the nearest known id.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from connector.errors import Problem, WorkflowDefinitionError

from .binding import OperationExecutor, OperationRef
from .criteria import CompiledCriterion, compile_criterion
from .document import Action, ArazzoDocument, Criterion, Parameter
from .expressions import JSON

__all__ = ["BoundDocument"]


class BoundDocument:
    """Operations, compiled criteria and components of one document, looked up by the runner."""

    def __init__(
        self, document: ArazzoDocument, executors: Mapping[str, OperationExecutor]
    ) -> None:
        self.document = document
        self.executors = dict(executors)
        self._operations: dict[tuple[str, str], tuple[OperationRef, OperationExecutor]] = {}
        self._criteria: dict[int, CompiledCriterion] = {}
        components = document.components
        self.components: dict[str, dict[str, JSON]] = {
            "inputs": dict(components.inputs),
            "parameters": {
                k: v.model_dump(by_alias=True) for k, v in components.parameters.items()
            },
            "successActions": {
                k: v.model_dump(by_alias=True) for k, v in components.success_actions.items()
            },
            "failureActions": {
                k: v.model_dump(by_alias=True) for k, v in components.failure_actions.items()
            },
        }
        problems: list[Problem] = []
        for w, workflow in enumerate(document.workflows):
            for s, step in enumerate(workflow.steps):
                where = f"workflows[{w}].steps[{s}]"
                if step.operation_id is not None:
                    found = self._resolve(step.operation_id, f"{where}.operationId", problems)
                elif step.operation_path is not None:
                    found = self._resolve_path(
                        step.operation_path, f"{where}.operationPath", problems
                    )
                else:
                    continue
                if found is not None:
                    self._operations[(workflow.workflow_id, step.step_id)] = found
        if problems:
            raise WorkflowDefinitionError(problems)

    def operation(self, workflow_id: str, step_id: str) -> tuple[OperationRef, OperationExecutor]:
        """The operation a step calls and the executor that calls it."""
        return self._operations[(workflow_id, step_id)]

    def criterion(self, criterion: Criterion) -> CompiledCriterion:
        """The compiled form of a criterion (compiled once, on first use)."""
        compiled = self._criteria.get(id(criterion))
        if compiled is None:
            compiled = self._criteria[id(criterion)] = compile_criterion(criterion)
        return compiled

    def parameter(self, parameter: Parameter) -> Parameter:
        """The parameter itself, or the components parameter it references (with its value)."""
        if parameter.reference is None:
            return parameter
        target = self.document.components.parameters[parameter.reference.rsplit(".", 1)[-1]]
        if "value" in parameter.model_fields_set:
            return target.model_copy(update={"value": parameter.value})
        return target

    def action(self, action: Action, *, success: bool) -> Action:
        """The action itself, or the components action it references."""
        if action.reference is None:
            return action
        name = action.reference.rsplit(".", 1)[-1]
        table = (
            self.document.components.success_actions
            if success
            else self.document.components.failure_actions
        )
        return table[name]

    def _resolve(
        self, operation_id: str, where: str, problems: list[Problem]
    ) -> tuple[OperationRef, OperationExecutor] | None:
        sources = self.executors
        name = operation_id
        if operation_id.startswith("$sourceDescriptions."):
            source, _, name = operation_id.removeprefix("$sourceDescriptions.").partition(".")
            if source not in sources:
                problems.append(
                    Problem(
                        where,
                        "names an unknown source description",
                        found=source,
                        allowed=", ".join(sources),
                    )
                )
                return None
            sources = {source: sources[source]}
        matches = [
            (ref, ex) for ex in sources.values() if (ref := ex.find_operation(name)) is not None
        ]
        if len(matches) == 1:
            return matches[0]
        known = sorted({i for ex in sources.values() for i in ex.known_operation_ids()})
        if not matches:
            nearest = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            problems.append(
                Problem(
                    where,
                    f"no operation with this operationId{hint}",
                    found=operation_id,
                    allowed=", ".join(known),
                )
            )
        else:
            problems.append(
                Problem(
                    where,
                    "several sources have this operationId; write $sourceDescriptions.<name>.<operationId>",
                    found=operation_id,
                )
            )
        return None

    def _resolve_path(
        self, path: str, where: str, problems: list[Problem]
    ) -> tuple[OperationRef, OperationExecutor] | None:
        # Only the form that names an operationId after the '#' can be ours: our definitions are
        # not OpenAPI documents, so a JSON pointer into one has nothing to point at.
        fragment = path.split("#", 1)[-1] if "#" in path else ""
        if fragment and not fragment.startswith("/"):
            return self._resolve(fragment, where, problems)
        problems.append(
            Problem(
                where,
                "an operationPath must end in #<operationId> to name one of our operations",
                found=path,
                allowed="{$sourceDescriptions.api.url}#createMessageBatch",
            )
        )
        return None
