"""JSON locations: how a place in a definition is written, and pydantic's validation errors
turned into located problems (unknown keys name the nearest known key).

Shared by the loader (:mod:`connector.definitions`), the compiler and strict JSON parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches

from pydantic import BaseModel, ValidationError

from .errors import Problem
from .pagination import SELECTOR_KEYS as PAGINATION_SELECTORS
from .pagination import STYLES as PAGINATION_STYLES

__all__ = ["format_location", "locate_validation_errors"]


def _vocabulary(models: Iterable[object]) -> dict[str, set[str]]:
    """Every key of the format -> the blocks (model names) it belongs to."""
    words: dict[str, set[str]] = {}
    for item in models:
        if isinstance(item, type) and issubclass(item, BaseModel) and item is not BaseModel:
            for name, info in item.model_fields.items():
                words.setdefault(info.alias or name, set()).add(
                    _BLOCKS.get(item.__name__, item.__name__)
                )
    return words


_BLOCKS = {
    "Connection": "the connection document (top level)",
    "Service": "service",
    "Auth": "service.auth",
    "Probe": "service.probe",
    "Conventions": "service.conventions",
    "Resource": "a resource (resources[])",
    "Operation": "an operation (resources[].operations.NAME)",
    "Webhook": "a webhook (resources[].webhooks[])",
    "Trigger": "a webhook's trigger",
}


def _unknown_key_hint(key: str, vocabulary: dict[str, set[str]]) -> str:
    """What to say about an unknown key: where it belongs when the format knows it elsewhere,
    else the nearest other key (never the key that was typed)."""
    if key in vocabulary:
        places = " or ".join(sorted(vocabulary[key]))
        return f"{key!r} is not valid here: it belongs in {places}"
    close = get_close_matches(key, [w for w in vocabulary if w != key], n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "remove it (free-form data belongs in 'meta')"


def format_location(loc: Sequence[str | int], *, bare: bool) -> str:
    """``("resources", 1, "operations", "create")`` → ``resources[1].operations.create``."""
    parts = list(loc)
    if bare and parts[:1] == ["resources"]:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def locate_validation_errors(
    exc: ValidationError, *, bare: bool, models: Iterable[object] = ()
) -> list[Problem]:
    """Turn pydantic's errors into located problems; unknown keys name the nearest known key."""
    problems: list[Problem] = []
    vocabulary = _vocabulary(models)
    unions: dict[tuple[str | int, ...], list[object]] = {}
    for error in exc.errors(include_url=False):
        raw_loc = list(error["loc"])
        union_at = next((i for i, part in enumerate(raw_loc) if _is_plain_union_tag(part)), None)
        if union_at is not None:
            # One problem per value that fits no member of a union (a selector is a list of
            # keys and indices or a JSONPath string), not one per member tried.
            unions.setdefault(tuple(_strip_tags(raw_loc[:union_at])), []).append(error.get("input"))
            continue
        loc = _strip_tags(raw_loc)
        location = format_location(loc, bare=bare)
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            hint = _unknown_key_hint(key, vocabulary)
            problems.append(Problem(location, f"unknown key {key!r}; {hint}"))
            continue
        allowed = None
        ctx = error.get("ctx") or {}
        if kind == "literal_error":
            allowed = str(ctx.get("expected", ""))
        elif kind == "string_pattern_mismatch":
            allowed = f"text matching {ctx.get('pattern')}"
        elif kind == "union_tag_invalid":
            allowed = str(ctx.get("expected_tags", ""))
        found = None if kind == "missing" else error.get("input")
        if isinstance(found, dict | list):
            found = type(found).__name__
        problems.append(Problem(location, error["msg"], found, allowed))
    for union_loc, inputs in unions.items():
        found = inputs[-1]
        if isinstance(found, dict | list):
            found = type(found).__name__
        key = next((p for p in reversed(union_loc) if isinstance(p, str)), "")
        if key in _SELECTOR_KEYS:
            message, allowed = (
                "not a selector",
                "a list of string keys and integer indices, or a JSONPath string starting with '$'",
            )
        else:
            message, allowed = "a value of the wrong shape", None
        problems.append(
            Problem(format_location(list(union_loc), bare=bare), message, found, allowed)
        )
    return problems


_SELECTOR_KEYS = {"selector", "records", "idField", *PAGINATION_SELECTORS}


def _is_plain_union_tag(part: str | int) -> bool:
    # pydantic names the member it tried for plain unions ("list[union[str,int]]", "str");
    # these are not keys of the user's document.
    return isinstance(part, str) and ("[" in part or part in ("str", "int"))


def _strip_tags(loc: list[str | int]) -> list[str | int]:
    """Drop the member names pydantic inserts: plain-union tags anywhere, and the tag of the
    pagination union right after ``pagination`` (a key named ``cursor`` stays)."""
    out: list[str | int] = []
    for index, part in enumerate(loc):
        if _is_plain_union_tag(part):
            continue
        if index and loc[index - 1] == "pagination" and part in PAGINATION_STYLES:
            continue
        out.append(part)
    return out
