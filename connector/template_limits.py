"""The template sandbox's bounds: what a template may contain, and what one render may cost.

Every template is untrusted text from a definition. Two layers keep one from exhausting time or
memory, at load and on every call:

* **Refused at load** (:func:`check_tree`): only the statements a request needs (output,
  ``if``, ``for`` without ``recursive``) and the expressions below; only the filters and tests
  in :data:`FILTERS` / :data:`TESTS`, all linear in their input; method calls only to the linear
  string and mapping methods in :data:`METHODS`; no ``**``, no ``{% set %}``, macros, blocks,
  includes or ``attr``; at most :data:`MAX_DEPTH` levels of nesting and :data:`MAX_SOURCE`
  characters.
* **Bounded while rendering** (:class:`Budget`): every loop iteration costs a step; every value
  built by ``*``, ``+``, ``~``, ``join``, ``replace`` or ``string`` and every output character
  costs its size, checked *before* the value is built. A render that would exceed its budget
  stops with :class:`BudgetExceeded`. The budget grows with the size of the values given (a
  10 MB message is not refused), never with the template.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, cast

import jinja2
from jinja2 import nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "FILTERS",
    "MAX_DEPTH",
    "MAX_SOURCE",
    "METHODS",
    "TESTS",
    "BoundedEnvironment",
    "Budget",
    "BudgetExceeded",
    "budget_for",
    "check_tree",
    "weight",
]

MAX_SOURCE = 100_000
"""Characters in one template's source."""
MAX_DEPTH = 48
"""Nesting levels of one template's syntax tree."""
BASE_STEPS = 100_000
"""Loop iterations and operations one render may take, before the values' own size is added."""
BASE_CHARS = 1 << 20
"""Characters one render may build and write, before the values' own size is added."""
_INT_BITS = 4096

FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int",
        "items", "join", "last", "length", "list", "lower", "max", "min", "replace", "reverse",
        "round", "sort", "string", "title", "trim", "unique", "upper", "urlencode", "wordcount",
    }
)  # fmt: skip
"""Filters a template may use: each costs time and memory linear in its input (``join``,
``replace`` and ``string`` are replaced by versions that charge the budget first)."""

TESTS = frozenset(
    {
        "boolean", "defined", "divisibleby", "eq", "equalto", "even", "false", "float", "ge",
        "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan", "lower", "lt",
        "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "true",
        "undefined", "upper", "==", "!=", ">", ">=", "<", "<=",
    }
)  # fmt: skip
"""Tests a template may use (all constant or linear time)."""

METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "get", "index", "isalnum",
        "isalpha", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "isupper", "items",
        "keys", "lower", "lstrip", "removeprefix", "removesuffix", "rfind", "rsplit", "rstrip",
        "split", "startswith", "strip", "title", "upper", "values",
    }
)  # fmt: skip
"""Methods a template may call (``'/'.join`` and ``'a'.center(10**9)`` are not among them)."""

# Attribute names a template may never touch (the sandbox also refuses them when rendering).
_FORBIDDEN_ATTRIBUTES = {"mro", "format", "format_map", "gi_frame", "func_globals", "f_globals"}

_EXPRESSIONS: tuple[type[nodes.Node], ...] = (
    nodes.Name, nodes.Const, nodes.TemplateData, nodes.List, nodes.Tuple, nodes.Dict,
    nodes.Pair, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter, nodes.Test,
    nodes.CondExpr, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Compare,
    nodes.Operand, nodes.Concat, nodes.Call, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div,
    nodes.FloorDiv, nodes.Mod, nodes.Keyword,
)  # fmt: skip
_STATEMENTS: tuple[type[nodes.Node], ...] = (nodes.Template, nodes.Output, nodes.If, nodes.For)

_STATEMENT_NAMES = {
    "Assign": "{% set %}",
    "AssignBlock": "{% set %}",
    "Macro": "{% macro %}",
    "CallBlock": "{% call %}",
    "FilterBlock": "{% filter %}",
    "Block": "{% block %}",
    "Extends": "{% extends %}",
    "Include": "{% include %}",
    "Import": "{% import %}",
    "FromImport": "{% from ... import %}",
    "With": "{% with %}",
    "Scope": "{% with %}",
    "EvalContextModifier": "{% autoescape %}",
    "ScopedEvalContextModifier": "{% autoescape %}",
}


class BudgetExceeded(SecurityError):
    """A render that would take more steps or build more text than its budget allows."""


class Budget:
    """What one render may still spend: ``steps`` (iterations, operations) and ``chars``."""

    __slots__ = ("chars", "steps")

    def __init__(self, steps: int = BASE_STEPS, chars: int = BASE_CHARS) -> None:
        self.steps = steps
        self.chars = chars

    def step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise BudgetExceeded(
                "the template takes too many steps (loops over too many items); "
                "templates are bounded so that no definition can stall a call"
            )

    def spend(self, size: int) -> None:
        self.chars -= size
        if self.chars < 0:
            raise BudgetExceeded(
                "the template builds too large a value; templates are bounded so that no "
                "definition can exhaust memory"
            )


_ACTIVE: ContextVar[Budget | None] = ContextVar("connector_template_budget", default=None)


def active_budget() -> Budget:
    """The budget of the render in progress (a fresh load-size one outside any render, for
    values Jinja folds while compiling)."""
    return _ACTIVE.get() or Budget()


def activate(budget: Budget) -> Any:
    """Make ``budget`` the active one; returns the token for :func:`deactivate`."""
    return _ACTIVE.set(budget)


def deactivate(token: Any) -> None:
    _ACTIVE.reset(token)


def weight(value: object, cap: int) -> int:
    """The size of ``value`` (characters of strings, one per item), counted up to ``cap``.

    Shared references are counted each time they appear, as JSON text would write them, so a
    list that repeats itself cannot hide its size; counting stops past ``cap``.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 1
        elif isinstance(item, Mapping):
            total += 1 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1
            stack.extend(item)
        else:
            total += 1
        if total > cap:
            return total
    return total


def budget_for(context: Mapping[str, object]) -> Budget:
    """The budget of one render: the base amounts plus a share of the values' own size."""
    size = weight(list(context.values()), 1 << 40)
    return Budget(BASE_STEPS + 2 * size, BASE_CHARS + 16 * size)


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with every operator that can build a large value charged to the budget,
    and method calls limited to :data:`METHODS`."""

    # Intercepted operators are also never folded while compiling, so `'%.2000000000d' % 1`
    # cannot run at load outside a budget.
    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = active_budget()
        budget.step()
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in templates")
        if operator == "%" and isinstance(left, str | bytes):
            raise SecurityError("string formatting with % is not allowed in templates")
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > _INT_BITS:
                    raise SecurityError("integer too large for a template")
            else:
                sequence, count = (left, right) if isinstance(right, int) else (right, left)
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    budget.spend(weight(sequence, budget.chars) * max(count, 0))
        if operator == "+" and isinstance(left, str | list | tuple):
            budget.spend(weight(left, budget.chars) + weight(right, budget.chars))
        return super().call_binop(context, operator, left, right)

    def call(
        __self,
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        name = getattr(__obj, "__name__", None)
        if getattr(__obj, "__self__", None) is None or name not in METHODS:
            raise SecurityError(f"templates may not call {name or 'this value'!r}")
        active_budget().step()
        return super().call(__context, __obj, *args, **kwargs)


# --- the filters that replace Jinja's own, charged before they build ---------------------------


def _text_of(value: object, budget: Budget) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    budget.spend(weight(value, budget.chars))
    return str(value)


def _join(value: Iterable[object], d: str = "", attribute: object = None) -> str:
    if attribute is not None:
        raise SecurityError("join(attribute=...) is not allowed in templates")
    budget = active_budget()
    parts = [_text_of(item, budget) for item in value]
    budget.spend(sum(map(len, parts)) + len(d) * max(len(parts) - 1, 0))
    return d.join(parts)


def _replace(value: object, old: str, new: str, count: int | None = None) -> str:
    budget = active_budget()
    text = _text_of(value, budget)
    found = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    budget.spend(len(text) + found * max(len(new) - len(old), 0))
    return text.replace(old, new, -1 if count is None else count)


def _string(value: object) -> str:
    return _text_of(value, active_budget())


@pass_context
def _loop(context: Context, iterable: Any) -> Iterator[Any]:
    # pass_context keeps Jinja from running this while compiling; each item costs one step.
    if isinstance(iterable, jinja2.Undefined):
        iterable._fail_with_undefined_error()
    budget = active_budget()
    for item in iterable:
        budget.step()
        yield item


@pass_context
def _concat(context: Context, parts: list[Any]) -> str:
    budget = active_budget()
    texts = [_text_of(part, budget) for part in parts]
    budget.spend(sum(map(len, texts)))
    return "".join(texts)


def restrict(env: SandboxedEnvironment) -> None:
    """Keep only the allowed filters and tests, bounded where they could amplify, and add the
    loop and concatenation guards the rewritten trees call."""
    env.filters = {name: env.filters[name] for name in FILTERS}
    env.filters.update({"join": _join, "replace": _replace, "string": _string})
    env.filters.update({"_loop": _loop, "_concat": _concat})
    env.tests = {name: env.tests[name] for name in TESTS}


# --- the load-time check ---------------------------------------------------------------------


def check_tree(tree: nodes.Template) -> None:
    """Refuse, with a reason, any construct outside the allow-lists (raises ``ValueError``)."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"the template nests more than {MAX_DEPTH} levels deep")
        _check_node(node)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


def _check_node(node: nodes.Node) -> None:
    kind = type(node).__name__
    if isinstance(node, _STATEMENTS):
        if isinstance(node, nodes.For) and node.recursive:
            raise ValueError("recursive loops are not allowed in templates")
        return
    if not isinstance(node, _EXPRESSIONS):
        what = _STATEMENT_NAMES.get(kind, kind)
        if kind == "Pow":
            what = "the ** operator"
        raise ValueError(f"{what} is not allowed in templates")
    if isinstance(node, nodes.Name):
        if node.name.startswith("_"):
            raise ValueError(f"template names may not start with '_' ({node.name!r})")
        if node.ctx != "load" and node.ctx != "store":
            raise ValueError("templates may not assign variables")
    elif isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            raise ValueError(
                f"the filter {node.name!r} is not allowed in templates "
                f"(allowed: {', '.join(sorted(FILTERS))})"
            )
    elif isinstance(node, nodes.Test):
        if node.name not in TESTS:
            raise ValueError(f"the test {node.name!r} is not allowed in templates")
    elif isinstance(node, nodes.Call):
        callee = node.node
        if not isinstance(callee, nodes.Getattr) or callee.attr not in METHODS:
            raise ValueError(
                "templates may only call the string and mapping methods "
                f"{', '.join(sorted(METHODS))}"
            )
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise ValueError("templates may not call with *args or **kwargs")
    _check_attribute(node)


def _check_attribute(node: nodes.Node) -> None:
    name: object = None
    if isinstance(node, nodes.Getattr):
        name = node.attr
    elif isinstance(node, nodes.Getitem):
        arg = node.arg
        name = arg.value if isinstance(arg, nodes.Const) else None
    if isinstance(name, str) and (name.startswith("_") or name in _FORBIDDEN_ATTRIBUTES):
        raise ValueError(
            f"template reaches for the attribute {name!r}; templates may only read "
            "placeholder values (no underscore or interpreter attributes)"
        )


def guard_tree(tree: nodes.Template) -> None:
    """Rewrite a checked tree in place: every loop iterates through the step counter and every
    ``~`` concatenation through the size check."""
    for loop in tree.find_all(nodes.For):
        loop.iter = _filter(cast(nodes.Expr, loop.iter), "_loop")
    for parent in list(tree.find_all(nodes.Node)):
        for field in parent.fields:
            value = getattr(parent, field, None)
            if isinstance(value, nodes.Concat):
                setattr(parent, field, _filter(nodes.List(value.nodes), "_concat"))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, nodes.Concat):
                        value[index] = _filter(nodes.List(item.nodes), "_concat")


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)
