"""The emitter's and the receiver's errors."""

from __future__ import annotations

from connector.errors.core import ConnectorError


class WebhookError(ConnectorError):
    """The root of the emitter's and the receiver's errors."""


class SubscriptionError(WebhookError):
    """A subscription that cannot be added or changed: ``field`` says which part is wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsafeDestinationError(WebhookError):
    """A webhook target the guard refuses (a private, loopback or otherwise non-public address,
    a scheme or port that is not allowed). ``url`` and ``address`` say what was refused."""

    def __init__(self, message: str, *, url: str | None = None, address: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.address = address


class StoreError(WebhookError):
    """The emitter's state store cannot be opened or used (``location`` is its path or DSN,
    with any password removed). ``transient`` is True for a failure that may pass by itself
    (busy, disk full, connection lost): a long-running emitter backs off and tries again."""

    def __init__(
        self, message: str, *, location: str | None = None, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.location = location
        self.transient = transient


class EventError(WebhookError):
    """A record that cannot become an event (its body cannot be JSON, its id cannot be
    stored); the poller quarantines that record and carries on with the others."""

    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message)
        self.resource = resource


class VerificationError(WebhookError):
    """An incoming webhook that does not verify. ``reason`` is a short code: ``missing-header``,
    ``bad-timestamp``, ``stale-timestamp``, ``bad-signature``, ``bad-payload``, ``too-large``."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
