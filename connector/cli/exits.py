"""The one table from errors to exit codes, and the one line each error prints.

=====  ================================================================================
 0     success
 1     the upstream API or a subscriber failed (``UpstreamError``, ``TransportError``, ...),
       ``status --check`` found a problem, or an internal error (a bug: see ``--debug``)
 2     bad usage, bad definition, bad input, bad configuration or an unusable state store
 130   interrupted (Ctrl-C)
=====  ================================================================================
"""

from __future__ import annotations

import sys

from connector.errors import (
    ConfigurationError,
    ConnectorError,
    DefinitionError,
    InputError,
    StoreError,
    SubscriptionError,
    UnsafeDestinationError,
    WorkflowDefinitionError,
)
from connector.redaction import redact_url

__all__ = ["OK", "UPSTREAM", "USAGE", "exit_code", "report"]

OK = 0
UPSTREAM = 1
USAGE = 2
INTERRUPTED = 130

USAGE_ERRORS: tuple[type[ConnectorError], ...] = (
    ConfigurationError,
    DefinitionError,
    InputError,
    StoreError,
    SubscriptionError,
    UnsafeDestinationError,
    WorkflowDefinitionError,
)
"""Errors the user fixes on their side (exit 2); every other ConnectorError is exit 1."""

_HINT = "run again with --debug (or CONNECTOR_DEBUG=1) for the traceback"


def exit_code(error: BaseException) -> int:
    """The exit code for ``error`` (any exception)."""
    return _classify(error)[0]


def report(error: BaseException, *, prefix: str = "connector") -> int:
    """Print ``error`` as one line on stderr and return its exit code."""
    code, message = _classify(error)
    print(f"{prefix}: {message}", file=sys.stderr)
    return code


def _classify(error: BaseException) -> tuple[int, str]:
    if isinstance(error, USAGE_ERRORS):
        return USAGE, str(error)
    if isinstance(error, ConnectorError):
        return UPSTREAM, str(error)
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    # Not one of ours. The exception's own text is shown only for kinds known not to carry
    # secrets; the rest are named, with the way to see the traceback.
    kind = type(error).__name__
    module = type(error).__module__
    if isinstance(error, RecursionError):
        return USAGE, f"input nested too deeply to process ({_HINT})"
    if module.startswith("httpx") and kind in ("InvalidURL", "UnsupportedProtocol"):
        return USAGE, f"cannot build the request URL: {redact_url(str(error))[:200]}"
    if module.startswith(("httpx", "httpcore", "h11", "aiohttp")):
        return UPSTREAM, f"the connection failed: {kind} ({_HINT})"
    if isinstance(error, UnicodeError):
        return USAGE, f"a value cannot be encoded ({kind}: non-ASCII in a header?) ({_HINT})"
    if isinstance(error, MemoryError):
        return USAGE, f"out of memory: the input is too large ({_HINT})"
    return UPSTREAM, f"internal error {kind}: this is a bug; {_HINT}"
