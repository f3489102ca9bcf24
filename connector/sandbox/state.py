"""The sandbox's in-memory state: batches on a clock, files, skills and models.

Nothing runs in the background. A batch's status is worked out from the clock whenever it is
read: request ``i`` of ``n`` finishes ``duration * (i + 1) / n`` seconds after creation, the
batch ends when all have finished, when a cancel has had ``cancel_seconds`` to take effect, or
at ``expires_at`` (created + 24 h), whichever comes first. Until then every request counts as
``processing``. Once ended, a batch's outcome is fixed and cached.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.errors import UpstreamError

from .catalog import ModelRecord, default_models
from .clock import Clock, ManualClock, format_time, system_clock
from .ledger import Ledger, page_of
from .validation import MODERN_VERSION, validate_message_params
from .wire import JSON, IdMaker, api_error

# Ledger and page_of live in .ledger; re-exported here for older imports.
__all__ = [
    "Batch",
    "BatchRequest",
    "FileRecord",
    "Ledger",
    "SandboxState",
    "SkillRecord",
    "page_of",
]


CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
BATCH_LIFETIME = timedelta(hours=24)
RESULTS_LIFETIME = timedelta(days=29)
_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass
class BatchRequest:
    """One request of a batch: its own error (status, type, message) if its params are bad."""

    custom_id: str
    params: JSON
    offset: float
    error: tuple[int, str, str] | None = None


@dataclass
class Batch:
    """A message batch as stored; :meth:`SandboxState.batch_view` gives its API shape."""

    id: str
    created_at: datetime
    expires_at: datetime
    duration: float
    cancel_seconds: float
    requests: list[BatchRequest]
    cancel_initiated_at: datetime | None = None
    ended: tuple[datetime, list[str]] | None = None

    def end_time(self) -> datetime:
        """When processing ends (or ended), given what is known now."""
        natural = self.created_at + timedelta(seconds=self.duration)
        cancel_end = (
            self.cancel_initiated_at + timedelta(seconds=self.cancel_seconds)
            if self.cancel_initiated_at
            else _FAR
        )
        return min(natural, cancel_end, self.expires_at)

    def settle(self, now: datetime) -> tuple[datetime, list[str]] | None:
        """The end time and each request's result type once ended; ``None`` while running."""
        if self.ended is not None:
            return self.ended
        end = self.end_time()
        if now < end:
            return None
        cutoff = min(end, self.cancel_initiated_at) if self.cancel_initiated_at else end
        late = "canceled" if self.cancel_initiated_at else "expired"
        outcomes = []
        for request in self.requests:
            done = self.created_at + timedelta(seconds=request.offset) <= cutoff
            if done:
                outcomes.append("errored" if request.error else "succeeded")
            else:
                outcomes.append(late)
        self.ended = (end, outcomes)
        return self.ended


@dataclass
class FileRecord:
    """An uploaded file."""

    id: str
    filename: str
    mime_type: str
    data: bytes
    created_at: datetime
    downloadable: bool = True

    def to_json(self) -> dict[str, JSON]:
        """The FileMetadata object."""
        return {
            "id": self.id,
            "type": "file",
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": len(self.data),
            "created_at": format_time(self.created_at),
            "downloadable": self.downloadable,
            "expires_at": None,  # uploads do not expire (generated files would)
            "scope": None,  # the beta FileMetadata's: no workspace scope
        }


@dataclass
class SkillRecord:
    """A custom skill: the uploaded files, keyed by their path."""

    id: str
    display_title: str | None
    created_at: datetime
    version: str
    version_id: str
    files: dict[str, bytes] = field(default_factory=dict)
    source: str = "custom"

    def to_json(self, version: str) -> dict[str, JSON]:
        """The Skill object in the shape the client's API era expects."""
        stamp = format_time(self.created_at)
        both: dict[str, JSON] = {
            "id": self.id,
            "type": "skill",
            "created_at": stamp,
            "updated_at": stamp,
            "display_title": self.display_title,
            "display_name": self.display_title or "",
            "latest_version": self.version,
            "latest_version_id": self.version_id,
        }
        # The two eras disagree on `source` (a string against an object): pick by version.
        both["source"] = {"type": self.source} if version == MODERN_VERSION else self.source
        return both


class SandboxState:
    """Everything the sandbox holds, guarded by one lock (the server thread and a test may
    both touch it). Times come from ``clock`` plus any :meth:`advance`."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        batch_seconds: float = 2.0,
        cancel_seconds: float | None = None,
        seed: int = 0,
    ) -> None:
        self.clock: Clock = clock or system_clock
        self.batch_seconds = batch_seconds
        self.cancel_seconds = batch_seconds / 4 if cancel_seconds is None else cancel_seconds
        self.ids = IdMaker(seed)
        self.lock = threading.RLock()
        self.batches: Ledger[Batch] = Ledger()
        self.files: Ledger[FileRecord] = Ledger()
        self.skills: Ledger[SkillRecord] = Ledger()
        self.models: list[ModelRecord] = default_models()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The sandbox's current time."""
        return self.clock() + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move time forward: the injected :class:`ManualClock` if there is one, else an offset
        over the real clock (so a running sandbox can be fast-forwarded too). A move past
        what a datetime holds raises ``OverflowError`` and changes nothing."""
        self.now() + timedelta(seconds=seconds)  # refuse before anything moves
        if isinstance(self.clock, ManualClock):
            self.clock.advance(seconds)
        else:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    # Models

    def find_model(self, name: str) -> ModelRecord | None:
        """The model with this id or alias."""
        with self.lock:
            for model in self.models:
                if name == model.id or name in model.aliases:
                    return model
        return None

    def add_model(
        self,
        model_id: str,
        display_name: str | None = None,
        *,
        created_at: datetime | None = None,
        aliases: Sequence[str] = (),
        lifecycle: str = "active",
    ) -> ModelRecord:
        """Add (or replace) a model, released now unless ``created_at`` says otherwise."""
        record = ModelRecord(
            model_id,
            display_name or model_id,
            created_at or self.now(),
            lifecycle=lifecycle,
            aliases=list(aliases),
        )
        with self.lock:
            self.models = [m for m in self.models if m.id != model_id] + [record]
        return record

    def models_newest_first(self, lifecycles: Sequence[str]) -> list[tuple[str, ModelRecord]]:
        """The catalogue filtered by lifecycle, most recently released first."""
        with self.lock:
            chosen = [m for m in self.models if m.lifecycle in lifecycles]
        chosen.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        return [(m.id, m) for m in chosen]

    # Batches

    def add_batch(
        self,
        requests: Sequence[JSON],
        *,
        version: str = MODERN_VERSION,
        created_at: datetime | None = None,
        batch_id: str | None = None,
        duration: float | None = None,
    ) -> Batch:
        """Store a batch of already well-formed ``{custom_id, params}`` items.

        Each item's params are checked as a Messages request; a bad one ends ``errored``.
        ``created_at`` in the past makes a batch that has already ended (for seeding).
        """
        created = created_at or self.now()
        seconds = self.batch_seconds if duration is None else duration
        count = len(requests)
        items = []
        for index, item in enumerate(requests):
            offset = seconds * (index + 1) / count
            items.append(
                BatchRequest(
                    item["custom_id"],
                    item["params"],
                    offset,
                    self._request_error(item["params"], version),
                )
            )
        batch = Batch(
            id=batch_id or self.ids.make("msgbatch"),
            created_at=created,
            expires_at=created + BATCH_LIFETIME,
            duration=seconds,
            cancel_seconds=self.cancel_seconds,
            requests=items,
        )
        with self.lock:
            return self.batches.add(batch.id, batch)

    def _request_error(self, params: JSON, version: str) -> tuple[int, str, str] | None:
        try:
            validate_message_params(params, version=version, find_model=self.find_model)
        except UpstreamError as error:
            return error.status, error.error_type or "invalid_request_error", error.message
        if isinstance(params, dict) and params.get("stream"):
            return 400, "invalid_request_error", "stream: batch requests cannot be streamed"
        return None

    def batch(self, batch_id: str) -> Batch:
        """The batch with this id, or the API's 404."""
        with self.lock:
            found = self.batches.get(batch_id)
        if found is None:
            raise api_error(404, f"message batch {batch_id!r} not found")
        return found

    def set_batch_expiry(self, batch_id: str, expires_at: datetime) -> None:
        """Move a batch's ``expires_at`` (to test expiry without a 24 h clock jump)."""
        batch = self.batch(batch_id)
        with self.lock:
            if batch.ended is None:
                batch.expires_at = expires_at

    def cancel_batch(self, batch_id: str) -> Batch:
        """Start cancelling; an ended or already cancelling batch is left as it is."""
        batch = self.batch(batch_id)
        with self.lock:
            now = self.now()
            if batch.cancel_initiated_at is None and batch.settle(now) is None:
                batch.cancel_initiated_at = now
        return batch

    def delete_batch(self, batch_id: str) -> None:
        """Forget an ended batch; the API refuses to delete one still processing."""
        batch = self.batch(batch_id)
        with self.lock:
            if batch.settle(self.now()) is None:
                raise api_error(
                    400,
                    f"message batch {batch_id} is still being processed; cancel it and wait "
                    "for processing_status 'ended' before deleting it",
                )
            self.batches.remove(batch_id)

    def batch_view(self, batch: Batch, api_base: str) -> dict[str, JSON]:
        """The MessageBatch object; ``api_base`` ends with ``/v1`` (or
        the seeds' prefix) as the client reached the sandbox, so ``results_url`` points here."""
        now = self.now()
        with self.lock:
            settled = batch.settle(now)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if settled is None:
            counts["processing"] = len(batch.requests)
            status = "canceling" if batch.cancel_initiated_at else "in_progress"
        else:
            for outcome in settled[1]:
                counts[outcome] += 1
            status = "ended"
        archived = batch.created_at + RESULTS_LIFETIME
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": format_time(batch.created_at),
            "expires_at": format_time(batch.expires_at),
            "ended_at": format_time(settled[0]) if settled else None,
            "cancel_initiated_at": (
                format_time(batch.cancel_initiated_at) if batch.cancel_initiated_at else None
            ),
            "archived_at": format_time(archived) if settled and now >= archived else None,
            "results_url": (f"{api_base}/messages/batches/{batch.id}/results" if settled else None),
        }
