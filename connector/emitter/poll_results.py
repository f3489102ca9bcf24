"""What one poll of one resource did (:class:`PollResult`), its listing and its feeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.emitter.feed_poll import FeedReport

__all__ = ["PollResult"]


@dataclass
class PollResult:
    """What one poll of one resource did.

    ``requests`` counts HTTP calls (list pages and confirming reads), ``complete`` whether the
    listing reached its end, ``events`` the ids of events that were new, ``held`` the ids whose
    deletion the mass-vanish guard held back, ``error`` why the listing failed (None if it did
    not), ``quarantined`` the ids of poison records set aside, ``notes`` what a feed poll
    said (a capped poll, a reseed).
    """

    resource: str
    requests: int = 0
    listed: int = 0
    complete: bool = False
    baseline: bool = False
    events: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, feed: FeedReport, event: str) -> None:
        """Fold one feed poll's report in."""
        self.requests += feed.requests
        self.listed += feed.listed
        self.baseline = self.baseline or feed.baseline
        self.events += feed.events
        self.quarantined += sorted(feed.quarantined)
        self.error = self.error or feed.error
        for flag, text in ((feed.capped, "capped by its page guard"), (feed.reseeded, "reseeded")):
            if flag:
                self.notes.append(f"feed {event}: {text}")

    @property
    def ok(self) -> bool:
        """Whether the poll ran without a failed listing or commit."""
        return self.error is None
