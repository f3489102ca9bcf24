"""The step runner: executes an Arazzo workflow through operation executors.

>>> runner = WorkflowRunner(document, {"claudeApi": ConnectorExecutor(connector, definition)})
>>> runner.run(inputs={"apiKey": "...", "requests": [...]})      # doctest: +SKIP
{'batchId': 'msgbatch_...', 'requestCounts': {...}, 'results': [...]}

Semantics, per Arazzo 1.0.1 unless noted:

* a step succeeds when all its ``successCriteria`` hold (a step without criteria succeeds on
  any status below 400); then the first ``onSuccess`` action whose criteria all hold runs
  (the workflow's ``successActions`` when the step has none), else the next step does;
* on failure the first matching ``onFailure`` action runs (else the workflow's
  ``failureActions``); with none, the run stops with :class:`StepFailedError`;
* ``retry`` waits ``retryAfter`` seconds (a ``Retry-After`` header wins, both capped by
  ``max_retry_after``) and runs the step again, at most ``retryLimit`` times (default 1) in a
  row; ``retry`` is also accepted in ``onSuccess``, which is how the seed polls a batch;
* ``goto`` jumps to a step, or runs another workflow and ends this one; ``end`` ends it;
* a ``workflowId`` step runs that workflow with its ``parameters`` as inputs; in its
  ``outputs``, ``$outputs.x`` reads the nested workflow's outputs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from connector.errors import Problem, StepFailedError, WorkflowDefinitionError, WorkflowError

from .binding import NO_BODY, OperationExecutor
from .bound import BoundDocument
from .document import Action, ArazzoDocument, Parameter, Step, Workflow
from .expressions import JSON, Scope, resolve_value
from .inputs import apply_inputs, is_secret_name
from .step_calls import build_call, read_body
from .step_calls import retry_after as header_retry_after

__all__ = ["DeadlineExceededError", "RunOptions", "WorkflowRunner"]

logger = logging.getLogger("connector.workflows")

DEFAULT_DEADLINE = 24 * 3600.0
MAX_DEPTH = 16


class DeadlineExceededError(StepFailedError):
    """The run's overall deadline passed (or a wait would pass it) while a step was pending."""


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves around time and large bodies.

    ``deadline``: seconds the whole run may take; ``max_retry_after``: cap on any single
    wait (``0`` never waits); ``results_out``: stream JSONL bodies to this file instead of
    holding them (the body becomes ``{"path", "count"}``); ``clock``/``sleep``: injectable.
    """

    deadline: float = DEFAULT_DEADLINE
    max_retry_after: float | None = None
    results_out: Path | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    max_step_runs: int = 100_000


@dataclass
class _Outcome:
    success: bool
    scope: Scope
    failure: StepFailedError | None = None
    retry_after_header: float | None = None


@dataclass
class _Run:
    deadline_at: float
    workflows: dict[str, dict[str, JSON]] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    step_runs: int = 0


class WorkflowRunner:
    """Runs the workflows of one document; binding (resolving operations) happens here.

    ``executors`` maps each ``sourceDescriptions`` name to an executor. Raises
    :class:`~connector.errors.WorkflowDefinitionError` when a step's operation cannot be found.
    """

    def __init__(
        self,
        document: ArazzoDocument,
        executors: Mapping[str, OperationExecutor],
        options: RunOptions | None = None,
    ) -> None:
        self.document = document
        self.options = options or RunOptions()
        self._bound = BoundDocument(document, executors)

    def run(
        self, workflow_id: str | None = None, inputs: Mapping[str, JSON] | None = None
    ) -> dict[str, JSON]:
        """Run a workflow (the first one by default) and return its outputs."""
        workflow = self._workflow(workflow_id or self.document.workflows[0].workflow_id)
        run = _Run(deadline_at=self.options.clock() + self.options.deadline)
        return self._run_workflow(workflow, dict(inputs or {}), run, depth=0)

    def _workflow(self, workflow_id: str) -> Workflow:
        workflow = self.document.workflow(workflow_id)
        if workflow is None:
            known = ", ".join(w.workflow_id for w in self.document.workflows)
            problem = Problem("workflows", "no workflow with this workflowId", workflow_id, known)
            raise WorkflowDefinitionError([problem])
        return workflow

    def _run_workflow(
        self, workflow: Workflow, raw: dict[str, JSON], run: _Run, depth: int
    ) -> dict[str, JSON]:
        if depth > MAX_DEPTH:
            raise WorkflowError(f"workflows nest deeper than {MAX_DEPTH} (a goto or step cycle?)")
        inputs = apply_inputs(workflow.inputs, raw)
        run.secrets |= _secrets(inputs)
        for dependency in workflow.depends_on:
            if dependency not in run.workflows:
                self._run_workflow(
                    self._workflow(dependency),
                    _inputs_for(self._workflow(dependency), raw),
                    run,
                    depth + 1,
                )
        scope = Scope(inputs=inputs, workflows=run.workflows, components=self._bound.components)
        steps = workflow.steps
        index, retries = 0, {s.step_id: 0 for s in steps}
        while index < len(steps):
            step = steps[index]
            outcome = self._run_step(workflow, step, scope, run, depth)
            if outcome.success:
                scope.steps[step.step_id] = self._step_outputs(step, outcome.scope)
            actions = step.on_success or workflow.success_actions
            if not outcome.success:
                actions = step.on_failure or workflow.failure_actions
            action = self._first_matching(actions, outcome.scope, success=outcome.success)
            if action is None:
                if outcome.failure is not None:
                    raise self._redacted(outcome.failure, run)
                retries[step.step_id] = 0
                index += 1
                continue
            logger.info(
                "workflow %s step %s: action %s (%s)",
                workflow.workflow_id,
                step.step_id,
                action.name,
                action.type,
            )
            if action.type == "retry":
                retries[step.step_id] += 1
                self._before_retry(
                    workflow, step, action, outcome, retries[step.step_id], scope, run, depth
                )
                continue
            retries[step.step_id] = 0
            if action.type == "end":
                break
            if action.step_id is not None:
                index = next(i for i, s in enumerate(steps) if s.step_id == action.step_id)
                continue
            target = self._workflow(str(action.workflow_id))
            self._run_workflow(
                target, self._parameters_as_inputs(action.parameters, outcome.scope), run, depth + 1
            )
            break
        outputs = {name: resolve_value(value, scope) for name, value in workflow.outputs.items()}
        run.workflows[workflow.workflow_id] = outputs
        return outputs

    def _before_retry(
        self,
        workflow: Workflow,
        step: Step,
        action: Action,
        outcome: _Outcome,
        attempt: int,
        scope: Scope,
        run: _Run,
        depth: int,
    ) -> None:
        limit = 1 if action.retry_limit is None else action.retry_limit
        if attempt > limit:
            criterion = " && ".join(c.condition for c in action.criteria) or None
            failure = outcome.failure
            raise self._redacted(
                StepFailedError(
                    f"workflow {workflow.workflow_id!r} step {step.step_id!r}: retry limit {limit} reached "
                    f"(action {action.name!r})" + (f"; last failure: {failure}" if failure else ""),
                    workflow_id=workflow.workflow_id,
                    step_id=step.step_id,
                    criterion=failure.criterion if failure else criterion,
                    value=failure.value if failure else self._observed(action, outcome.scope),
                ),
                run,
            )
        if action.workflow_id is not None:
            target = self._workflow(action.workflow_id)
            self._run_workflow(
                target, self._parameters_as_inputs(action.parameters, outcome.scope), run, depth + 1
            )
        elif action.step_id is not None:
            other = next(s for s in workflow.steps if s.step_id == action.step_id)
            side = self._run_step(workflow, other, scope, run, depth)
            if side.success:
                scope.steps[other.step_id] = self._step_outputs(other, side.scope)
        delay = action.retry_after or 0.0
        if outcome.retry_after_header is not None:
            delay = outcome.retry_after_header
        if self.options.max_retry_after is not None:
            delay = min(delay, self.options.max_retry_after)
        if self.options.clock() + delay > run.deadline_at:
            raise DeadlineExceededError(
                f"workflow {workflow.workflow_id!r} step {step.step_id!r}: the run's deadline "
                f"({self.options.deadline:g}s) would pass before the next attempt",
                workflow_id=workflow.workflow_id,
                step_id=step.step_id,
                criterion="deadline",
                value=self.options.deadline,
            )
        if delay > 0:
            self.options.sleep(delay)

    def _run_step(
        self, workflow: Workflow, step: Step, scope: Scope, run: _Run, depth: int
    ) -> _Outcome:
        run.step_runs += 1
        if run.step_runs > self.options.max_step_runs or self.options.clock() > run.deadline_at:
            limit = "deadline" if run.step_runs <= self.options.max_step_runs else "max_step_runs"
            raise DeadlineExceededError(
                f"workflow {workflow.workflow_id!r} step {step.step_id!r}: the run passed its {limit}",
                workflow_id=workflow.workflow_id,
                step_id=step.step_id,
                criterion=limit,
            )
        if step.workflow_id is not None:
            return self._run_nested(workflow, step, scope, run, depth)
        ref, executor = self._bound.operation(workflow.workflow_id, step.step_id)
        call = build_call(self._bound, ref, workflow, step, scope)
        run.secrets |= {v for k, v in call.headers.items() if is_secret_name(k) and v}
        with executor.execute(call) as response:
            step_scope = replace(
                scope,
                url=str(response.url),
                method=ref.method,
                status_code=response.status_code,
                request={
                    "header": call.headers,
                    "query": call.query,
                    "path": call.path,
                    "body": None if call.body is NO_BODY else call.body,
                },
                response={
                    "header": dict(response.headers),
                    "body": read_body(ref, response, self.options.results_out),
                },
            )
            retry_after = header_retry_after(response.headers)
        logger.info(
            "workflow %s step %s: %s %s -> %s",
            workflow.workflow_id,
            step.step_id,
            ref.handle,
            ref.operation,
            response.status_code,
        )
        return self._judge(workflow, step, step_scope, retry_after)

    def _run_nested(
        self, workflow: Workflow, step: Step, scope: Scope, run: _Run, depth: int
    ) -> _Outcome:
        target = self._workflow(str(step.workflow_id))
        try:
            outputs = self._run_workflow(
                target, self._parameters_as_inputs(step.parameters, scope), run, depth + 1
            )
        except StepFailedError as exc:
            return _Outcome(False, scope, exc)
        return self._judge(workflow, step, replace(scope, outputs=outputs), None)

    def _judge(
        self, workflow: Workflow, step: Step, scope: Scope, retry_after: float | None
    ) -> _Outcome:
        for criterion in step.success_criteria:
            compiled = self._bound.criterion(criterion)
            if not compiled.holds(scope):
                value = compiled.observed(scope)
                failure = StepFailedError(
                    f"workflow {workflow.workflow_id!r} step {step.step_id!r}: criterion "
                    f"{criterion.condition!r} did not hold (saw {_short(value)})",
                    workflow_id=workflow.workflow_id,
                    step_id=step.step_id,
                    criterion=criterion.condition,
                    value=value,
                )
                return _Outcome(False, scope, failure, retry_after)
        if not step.success_criteria and scope.status_code is not None and scope.status_code >= 400:
            failure = StepFailedError(
                f"workflow {workflow.workflow_id!r} step {step.step_id!r}: HTTP {scope.status_code} "
                "(no successCriteria, so any status below 400 succeeds)",
                workflow_id=workflow.workflow_id,
                step_id=step.step_id,
                criterion="$statusCode < 400",
                value=scope.status_code,
            )
            return _Outcome(False, scope, failure, retry_after)
        return _Outcome(True, scope, None, retry_after)

    def _step_outputs(self, step: Step, scope: Scope) -> dict[str, JSON]:
        return {name: resolve_value(value, scope) for name, value in step.outputs.items()}

    def _first_matching(
        self, actions: list[Action], scope: Scope, *, success: bool
    ) -> Action | None:
        for action in actions:
            resolved = self._bound.action(action, success=success)
            if all(self._bound.criterion(c).holds(scope) for c in resolved.criteria):
                return resolved
        return None

    def _observed(self, action: Action, scope: Scope) -> JSON:
        return [self._bound.criterion(c).observed(scope) for c in action.criteria] or None

    def _parameters_as_inputs(self, parameters: list[Parameter], scope: Scope) -> dict[str, JSON]:
        resolved = [self._bound.parameter(p) for p in parameters]
        return {str(p.name): resolve_value(p.value, scope) for p in resolved}

    def _redacted(self, error: StepFailedError, run: _Run) -> StepFailedError:
        if not run.secrets:
            return error
        message = _mask(str(error), run.secrets)
        value = _mask_value(error.value, run.secrets)
        masked = type(error)(
            message,
            workflow_id=error.workflow_id,
            step_id=error.step_id,
            criterion=error.criterion,
            value=value,
        )
        return masked


def _inputs_for(workflow: Workflow, raw: Mapping[str, JSON]) -> dict[str, JSON]:
    properties = (workflow.inputs or {}).get("properties")
    if isinstance(properties, Mapping):
        return {k: v for k, v in raw.items() if k in properties}
    return dict(raw)


def _secrets(values: Mapping[str, JSON]) -> set[str]:
    return {v for k, v in values.items() if is_secret_name(k) and isinstance(v, str) and v}


def _mask(text: str, secrets: set[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _mask_value(value: JSON, secrets: set[str]) -> JSON:
    if isinstance(value, str):
        return _mask(value, secrets)
    if isinstance(value, Mapping):
        return {k: _mask_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(v, secrets) for v in value]
    return value


def _short(value: JSON, limit: int = 120) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
