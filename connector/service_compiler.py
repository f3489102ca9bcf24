"""The load-time pass over the ``service`` block: its templates (``baseURL``, ``headers``,
``auth.params``) compiled once and checked (they may read only declared environment
variables and connection parameters), the auth parameters its method needs, the probe, and
the conventions' selectors (each located when broken)."""

from __future__ import annotations

from difflib import get_close_matches
from types import MappingProxyType

from .auth import NEEDED_PARAMS as NEEDED_AUTH_PARAMS
from .compile_checker import Checker
from .compiled import CompiledService
from .conventions import Rules
from .definition_rules import header_name_problem, header_value_problem
from .models import Service
from .templates import CompiledTemplate, names_read

__all__ = ["compile_service"]

_ROLES = ("baseURL", "apiKey")


def compile_service(check: Checker, service: Service) -> CompiledService:
    """Compile and check the service block's templates (what they may read, header names
    and values, the auth parameters the method needs)."""
    loc: list[str | int] = ["service"]
    declared = set(service.variables.values())
    for role in service.variables:
        close = get_close_matches(role, _ROLES, n=1, cutoff=0.6)
        if role not in _ROLES and close:
            check.add(
                [*loc, "variables", role],
                f"unknown role; did you mean {close[0]!r}? (other names declare variables "
                "read by templates but stand for no flag)",
                role,
            )
    texts: list[tuple[list[str | int], str]] = [([*loc, "baseURL"], service.base_url)]
    texts += [([*loc, "headers", k], v) for k, v in service.headers.items()]
    texts += [([*loc, "auth", "params", k], v) for k, v in service.auth.params.items()]
    for key in service.headers:
        problem = header_name_problem(key)
        if problem:
            check.add([*loc, "headers", key], problem, key)
    header = service.auth.params.get("header")
    if header is not None and header_name_problem(header):
        check.add([*loc, "auth", "params", "header"], str(header_name_problem(header)), header)
    sample = {"env": dict.fromkeys(declared, "")}
    templates: dict[str, CompiledTemplate] = {}
    for where, text in texts:
        if where[1] == "headers" or where[-1] in ("header", "prefix"):
            problem = header_value_problem(text)
            if problem:
                check.add(where, problem, text)
        compiled = check.text(where, text, "text")
        if compiled is None:
            continue
        templates[".".join(str(part) for part in where[1:])] = compiled
        for name in sorted(compiled.variables - {"env"} - check.settings):
            check.add(where, f"service templates may only read 'env', not {name!r}", text)
        keys, other = names_read(text, "env")
        if other:
            check.add(
                where,
                "service templates may read env only as env.NAME or env['NAME'] "
                "(so that the variables read can be checked)",
                text,
            )
        for key in sorted(keys - declared):
            check.add(
                where,
                f"reads the environment variable {key!r}, which service.variables does not "
                "declare; templates may read only declared variables",
                key,
                allowed=", ".join(sorted(declared)) or "none declared",
            )
        check.renders(where, compiled, sample)
    probe = None
    if service.probe is not None:
        probe = check.text([*loc, "probe", "path", "value"], service.probe.path.value, "path")
    auth = service.auth
    required, optional = NEEDED_AUTH_PARAMS[auth.method]
    for key in sorted(required - auth.params.keys()):
        check.add(
            [*loc, "auth", "params"], f"auth method {auth.method!r} needs the parameter {key!r}"
        )
    for key in sorted(auth.params.keys() - required - optional):
        known = ", ".join(sorted(required | optional)) or "none"
        check.add(
            [*loc, "auth", "params", key],
            f"auth method {auth.method!r} has no parameter {key!r}",
            allowed=known,
        )
    if auth.method == "api_token" and ("header" in auth.params) == ("query" in auth.params):
        check.add(
            [*loc, "auth", "params"],
            "auth method 'api_token' needs exactly one of 'header' and 'query'",
        )
    conventions = Rules(
        service.conventions,
        lambda where, spec: check.selector([*loc, "conventions", *where], spec),
    )
    return CompiledService(MappingProxyType(templates), probe, conventions)
