"""Mistakes that explain themselves: the hints the subscription commands add to a refusal."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from connector.errors import SubscriptionError

if TYPE_CHECKING:
    from connector.definitions import Definition
    from connector.settings import Settings

__all__ = ["check_events", "guard_hint", "refuse_without_credentials", "same_url"]


def same_url(a: str, b: str) -> bool:
    """Whether two subscription URLs are the same endpoint (case and a trailing slash aside)."""
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def guard_hint(args: argparse.Namespace) -> str:
    """What to add to a guard refusal: which ports are allowed and how to test locally."""
    from connector.emitter.guard import DEFAULT_PORTS

    if getattr(args, "allow_private", False):
        return ""
    ports = ", ".join(str(p) for p in sorted(DEFAULT_PORTS))
    return (
        f" (public https endpoints on ports {ports} are allowed; for local testing, pass "
        "--allow-private to allow http, loopback and private addresses and any port)"
    )


def check_events(events: list[str], definition: Definition) -> None:
    """Each ``--events`` entry must name a webhook of the definition (or ``handle.*``, or a
    prefix of names); a near miss gets a "did you mean"."""
    import difflib

    known = [w.event for r in definition.resources for w in r.webhooks]
    prefixes = {name.split(".")[0] for name in known}
    for event in events:
        stem = event[:-2] if event.endswith(".*") else event.rstrip("*")
        if event in known or stem in prefixes or any(k.startswith(stem) for k in known if stem):
            continue
        close = difflib.get_close_matches(event, known + [f"{p}.*" for p in prefixes], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SubscriptionError(
            f"--events: {event!r} is not a webhook of this definition{hint} "
            f"(known: {', '.join(known)})",
            field="events",
        )


def refuse_without_credentials(definition: Definition, settings: Settings) -> None:
    """A long-running command (``emit``) that cannot authenticate says so once, up front,
    instead of one warning per resource per poll."""
    from connector.errors import ConfigurationError
    from connector.requests import resolve_service

    service = resolve_service(definition, **settings.connector_options())
    auth = service.auth_header
    if service.missing_auth and not (auth and auth in {k.lower() for k in service.headers}):
        raise ConfigurationError(service.missing_auth, setting="api_key")
