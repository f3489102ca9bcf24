"""Request origins: every built request is checked to stay on the base URL's scheme, host and
port, and under its path, before anything is sent, so the credentials a service adds can only
ever reach the origin the user configured (issue 8, item 5). The loader already refuses paths
that do not start with ``/``; this is the check that holds whatever a template renders.
"""

from __future__ import annotations

from functools import lru_cache

import httpx

__all__ = ["origin_problem"]


@lru_cache(maxsize=64)
def _origin(base_url: str) -> tuple[str, str, int | None, str]:
    url = httpx.URL(base_url)
    return url.scheme, url.host, url.port, url.path.rstrip("/")


def origin_problem(base_url: str, url: str | httpx.URL) -> str | None:
    """Why ``url`` is not on ``base_url``'s scheme, host and port, under its path, or None.

    Every request is checked before it is sent, so the credentials the service adds can only
    ever reach the origin the user configured.
    """
    try:
        scheme, host, port, base_path = _origin(base_url)
        built = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"the request URL cannot be built: {exc}"
    if (built.scheme, built.host, built.port) != (scheme, host, port) or built.userinfo:
        return "the request would leave the base URL's host; it is not sent"
    path = built.path
    if not (path == base_path or path.startswith(base_path + "/")):
        return "the request would leave the base URL's path; it is not sent"
    if any(segment in (b".", b"..") for segment in built.raw_path.split(b"?")[0].split(b"/")):
        return "the request path holds a '.' or '..' segment; it is not sent"
    return None
