"""The rules that need the whole document: ids, references, expressions and conditions.

Called by :func:`connector.workflows.loader.load_document` after the structure validated;
every rule reports a located :class:`~connector.errors.Problem` instead of stopping, so a
document shows all its problems at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from connector.errors import Problem

from .criteria import ConditionError, compile_criterion
from .document import Action, ArazzoDocument, Criterion, Parameter, Step, Workflow
from .expressions import JSON, ExpressionError, is_expression, parse_expression
from .inputs import check_schema

__all__ = ["check_document"]

# A string that plainly tries to be an expression: a known root right after the '$'.
_ATTEMPT = re.compile(
    r"^\$(?:inputs|outputs|steps|workflows|response|request|components|sourceDescriptions)[.#]\S*$"
    r"|^\$(?:statusCode|url|method)\S*$"
)


def check_document(document: ArazzoDocument) -> list[Problem]:
    """Every cross-reference and compile problem of a structurally valid document."""
    problems: list[Problem] = []
    names = [s.name for s in document.source_descriptions]
    problems += _duplicates(names, "sourceDescriptions", "name")
    workflow_ids = [w.workflow_id for w in document.workflows]
    problems += _duplicates(workflow_ids, "workflows", "workflowId")
    for name, parameter in document.components.parameters.items():
        problems += _parameter(parameter, f"components.parameters.{name}", document, needs_in=False)
    for i, workflow in enumerate(document.workflows):
        problems += _workflow(workflow, f"workflows[{i}]", document)
    problems += _dependency_cycles(document)
    return problems


def _duplicates(values: list[str], where: str, key: str) -> list[Problem]:
    seen: set[str] = set()
    problems = []
    for i, value in enumerate(values):
        if value in seen:
            problems.append(Problem(f"{where}[{i}].{key}", f"duplicate {key}", found=value))
        seen.add(value)
    return problems


def _workflow(workflow: Workflow, where: str, document: ArazzoDocument) -> list[Problem]:
    problems: list[Problem] = []
    if workflow.inputs is not None:
        problems += check_schema(workflow.inputs, f"{where}.inputs")
    for i, dependency in enumerate(workflow.depends_on):
        if document.workflow(dependency) is None:
            problems.append(_unknown(f"{where}.dependsOn[{i}]", "workflow", dependency, document))
    step_ids = [s.step_id for s in workflow.steps]
    problems += _duplicates(step_ids, f"{where}.steps", "stepId")
    for i, step in enumerate(workflow.steps):
        problems += _step(step, f"{where}.steps[{i}]", workflow, document)
    for kind, actions in (
        ("successActions", workflow.success_actions),
        ("failureActions", workflow.failure_actions),
    ):
        for i, action in enumerate(actions):
            problems += _action(action, f"{where}.{kind}[{i}]", workflow, document, kind)
    for name, value in workflow.outputs.items():
        problems += _expression(value, f"{where}.outputs.{name}", set(step_ids), required=True)
    for i, parameter in enumerate(workflow.parameters):
        problems += _parameter(parameter, f"{where}.parameters[{i}]", document, needs_in=True)
    return problems


def _step(step: Step, where: str, workflow: Workflow, document: ArazzoDocument) -> list[Problem]:
    problems: list[Problem] = []
    targets = [k for k in ("operationId", "operationPath", "workflowId") if _target(step, k)]
    if len(targets) != 1:
        problems.append(
            Problem(
                where,
                "a step names exactly one of operationId, operationPath, workflowId",
                found=targets or None,
                allowed="operationId | operationPath | workflowId",
            )
        )
    if step.workflow_id and not step.workflow_id.startswith("$"):
        if document.workflow(step.workflow_id) is None:
            problems.append(_unknown(f"{where}.workflowId", "workflow", step.workflow_id, document))
    step_ids = {s.step_id for s in workflow.steps}
    seen: set[tuple[str | None, str | None]] = set()
    for i, parameter in enumerate(step.parameters):
        at = f"{where}.parameters[{i}]"
        problems += _parameter(
            parameter, at, document, needs_in=step.workflow_id is None, steps=step_ids
        )
        key = (parameter.name, parameter.in_)
        if parameter.name and key in seen:
            problems.append(Problem(f"{at}.name", "duplicate parameter", found=parameter.name))
        seen.add(key)
    if step.request_body is not None:
        body_at = f"{where}.requestBody"
        problems += _payload(step.request_body.payload, f"{body_at}.payload", step_ids)
        for i, replacement in enumerate(step.request_body.replacements):
            if not (replacement.target == "" or replacement.target.startswith("/")):
                problems.append(
                    Problem(
                        f"{body_at}.replacements[{i}].target",
                        "must be a JSON pointer",
                        found=replacement.target,
                        allowed="/a/0/b",
                    )
                )
            problems += _payload(replacement.value, f"{body_at}.replacements[{i}].value", step_ids)
    for i, criterion in enumerate(step.success_criteria):
        problems += _criterion(criterion, f"{where}.successCriteria[{i}]")
    for kind, actions in (("onSuccess", step.on_success), ("onFailure", step.on_failure)):
        for i, action in enumerate(actions):
            problems += _action(action, f"{where}.{kind}[{i}]", workflow, document, kind)
    for name, value in step.outputs.items():
        problems += _expression(value, f"{where}.outputs.{name}", step_ids, required=True)
    return problems


def _target(step: Step, key: str) -> str | None:
    return {
        "operationId": step.operation_id,
        "operationPath": step.operation_path,
        "workflowId": step.workflow_id,
    }[key]


def _parameter(
    parameter: Parameter,
    where: str,
    document: ArazzoDocument,
    *,
    needs_in: bool,
    steps: set[str] | None = None,
) -> list[Problem]:
    if parameter.reference is not None:
        prefix = "$components.parameters."
        name = parameter.reference.removeprefix(prefix)
        if not parameter.reference.startswith(prefix) or name not in document.components.parameters:
            return [
                Problem(
                    f"{where}.reference",
                    "does not name a components parameter",
                    found=parameter.reference,
                    allowed=", ".join(prefix + n for n in document.components.parameters) or None,
                )
            ]
        return []
    problems = []
    if parameter.name is None:
        problems.append(Problem(f"{where}.name", "is required"))
    if needs_in and parameter.in_ is None:
        problems.append(
            Problem(
                f"{where}.in",
                "is required for an operation's parameter",
                allowed="path, query, header, cookie",
            )
        )
    problems += _payload(parameter.value, f"{where}.value", steps or set())
    return problems


def _criterion(criterion: Criterion, where: str) -> list[Problem]:
    try:
        compile_criterion(criterion)
    except ExpressionError as exc:
        return [Problem(f"{where}.context", str(exc), found=exc.expression)]
    except ConditionError as exc:
        found = criterion.type if exc.field == "type" else criterion.condition
        return [Problem(f"{where}.{exc.field}", str(exc), found=found)]
    return []


def _action(
    action: Action, where: str, workflow: Workflow, document: ArazzoDocument, kind: str
) -> list[Problem]:
    if action.reference is not None:
        group = "successActions" if kind in ("onSuccess", "successActions") else "failureActions"
        prefix = f"$components.{group}."
        table = (
            document.components.success_actions
            if group == "successActions"
            else document.components.failure_actions
        )
        if (
            not action.reference.startswith(prefix)
            or action.reference.removeprefix(prefix) not in table
        ):
            return [
                Problem(
                    f"{where}.reference",
                    f"does not name one of components.{group}",
                    found=action.reference,
                )
            ]
        return []
    problems = []
    if action.name is None:
        problems.append(Problem(f"{where}.name", "is required"))
    if action.type is None:
        problems.append(Problem(f"{where}.type", "is required", allowed="end, goto, retry"))
    if action.type == "goto" and (action.step_id is None) == (action.workflow_id is None):
        problems.append(
            Problem(
                where,
                "a goto names exactly one of stepId, workflowId",
                allowed="stepId | workflowId",
            )
        )
    if action.type == "end" and (action.step_id or action.workflow_id):
        problems.append(Problem(where, "an end action names no stepId or workflowId"))
    if action.type != "retry":
        for field, value in (
            ("retryAfter", action.retry_after),
            ("retryLimit", action.retry_limit),
        ):
            if value is not None:
                problems.append(
                    Problem(
                        f"{where}.{field}",
                        "applies only to a retry action",
                        found=value,
                        allowed="type: retry",
                    )
                )
    if action.step_id is not None and action.step_id not in {s.step_id for s in workflow.steps}:
        problems.append(_unknown(f"{where}.stepId", "step", action.step_id, document, workflow))
    if action.workflow_id is not None and document.workflow(action.workflow_id) is None:
        problems.append(_unknown(f"{where}.workflowId", "workflow", action.workflow_id, document))
    for i, criterion in enumerate(action.criteria):
        problems += _criterion(criterion, f"{where}.criteria[{i}]")
    return problems


def _expression(value: str, where: str, step_ids: set[str], *, required: bool) -> list[Problem]:
    if not value.startswith("$") or not is_expression(value):
        if required or _ATTEMPT.match(value):
            return [
                Problem(
                    where,
                    "not a runtime expression",
                    found=value,
                    allowed="$inputs.x, $steps.id.outputs.x, $response.body#/ptr, ...",
                )
            ]
        return []
    expression = parse_expression(value)
    if expression.step_id is not None and step_ids and expression.step_id not in step_ids:
        return [
            Problem(
                where,
                "names a step this workflow does not have",
                found=expression.step_id,
                allowed=", ".join(sorted(step_ids)),
            )
        ]
    return []


def _payload(value: JSON, where: str, step_ids: set[str]) -> list[Problem]:
    if isinstance(value, str):
        problems = _expression(value, where, step_ids, required=False)
        for embedded in re.findall(r"\{(\$[^{}\s]+)\}", value):
            if not is_expression(embedded):
                problems.append(
                    Problem(
                        where, "embeds something that is not a runtime expression", found=embedded
                    )
                )
        return problems
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _payload(v, f"{where}.{k}", step_ids)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _payload(v, f"{where}[{i}]", step_ids)]
    return []


def _unknown(
    where: str, what: str, value: str, document: ArazzoDocument, workflow: Workflow | None = None
) -> Problem:
    known: Iterable[str] = (
        (s.step_id for s in workflow.steps)
        if workflow is not None
        else (w.workflow_id for w in document.workflows)
    )
    return Problem(where, f"no such {what}", found=value, allowed=", ".join(known))


def _dependency_cycles(document: ArazzoDocument) -> list[Problem]:
    problems = []
    graph = {w.workflow_id: list(w.depends_on) for w in document.workflows}
    for index, workflow in enumerate(document.workflows):
        stack, seen = list(graph[workflow.workflow_id]), set()
        while stack:
            current = stack.pop()
            if current == workflow.workflow_id:
                problems.append(
                    Problem(
                        f"workflows[{index}].dependsOn",
                        "workflows depend on each other in a cycle",
                        found=workflow.workflow_id,
                    )
                )
                break
            if current not in seen:
                seen.add(current)
                stack += graph.get(current, [])
    return problems
