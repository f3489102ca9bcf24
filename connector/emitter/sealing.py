"""Signing secrets sealed at rest: the state store never holds them in the clear.

The emitter must be able to read each subscription's secret to sign with it, so the store
keeps it encrypted (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a state
key that lives elsewhere:

* ``CONNECTOR_STATE_KEY`` (a Fernet key: 32 url-safe base64 bytes), when set; or
* a key file beside the store, ``<state>.key``, created on first use with mode 0600.

A copied database, a backup or a support dump therefore leaks no secret on its own. Keep the
key file (or the variable) with the same care as the secrets; losing it means re-issuing
secrets (``connector subscriptions rotate``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from connector.errors import StoreError

__all__ = ["KEY_VARIABLE", "SecretBox"]

KEY_VARIABLE = "CONNECTOR_STATE_KEY"
_PREFIX = "sealed:v1:"


class SecretBox:
    """Seals and opens secrets with one key; opened values are cached in memory only."""

    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise StoreError(
                f"the state key is not a valid key (expected 32 url-safe base64 bytes, e.g. from "
                f"`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`); "
                f"check {KEY_VARIABLE}"
            ) from None
        self._opened: dict[str, str] = {}

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def for_store(cls, location: str, *, has_sealed: Callable[[], bool] | None = None) -> SecretBox:
        """The box for a store: ``CONNECTOR_STATE_KEY``, else ``<location>.key`` (made if absent).

        A key file is only ever made for a store that holds no sealed secret yet
        (``has_sealed``): a new key would make every stored secret unreadable, so a lost key
        file is refused, naming it and the variable. An in-memory store (``:memory:``) gets a
        key that lives as long as the process.
        """
        from_env = os.environ.get(KEY_VARIABLE)
        if from_env:
            return cls(from_env.strip())
        if location == ":memory:":
            return cls(Fernet.generate_key())
        path = Path(location + ".key")
        if not path.exists() and has_sealed is not None and has_sealed():
            raise StoreError(
                f"the key file {path} is missing but the store holds sealed signing secrets; "
                f"restore the key file or set {KEY_VARIABLE} to the key they were sealed with "
                "(a new key would make every stored secret unreadable, so none is made)",
                location=str(path),
            )
        try:
            if not path.exists():
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(Fernet.generate_key())
            return cls(path.read_bytes().strip())
        except FileExistsError:  # another process made it between our check and our open
            return cls(path.read_bytes().strip())
        except OSError as exc:
            raise StoreError(
                f"cannot read or create the state key file: {exc.strerror}", location=str(path)
            ) from None

    def seal(self, secret: str) -> str:
        """The sealed text stored in place of ``secret``."""
        return _PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret behind ``stored``; a StoreError if this key did not seal it."""
        opened = self._opened.get(stored)
        if opened is not None:
            return opened
        if not stored.startswith(_PREFIX):
            raise StoreError(
                "a stored secret is not sealed; the store was written by something else"
            )
        try:
            opened = self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise StoreError(
                f"the state key does not open the stored secrets: set {KEY_VARIABLE} (or restore the "
                "key file) to the key they were sealed with"
            ) from None
        if len(self._opened) < 10_000:
            self._opened[stored] = opened
        return opened
