"""Keeping secrets out of what we print: URLs with credentials in them.

A base URL may carry ``user:password@`` (some gateways take the key that way); every message,
repr and log line that names a URL shows it through :func:`redact_url`.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (anything unparsable is cut
    to its scheme, so nothing of it can leak)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return url.split(":", 1)[0] + "://***"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=f"***@{host}"))
