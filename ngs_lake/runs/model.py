"""The run lifecycle: ledger states and the event types on the topic (ARCHITECTURE §1, §6)."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    STARTED = "STARTED"
    MARKER_SEEN = "MARKER_SEEN"
    UPLOAD_CONFIRMED = "UPLOAD_CONFIRMED"
    COMPLETED = "COMPLETED"
    STALLED = "STALLED"
    INCOMPLETE = "INCOMPLETE"
    ABORTED = "ABORTED"


class RunEventType(StrEnum):
    STARTED = "run.started"
    COPY_COMPLETE = "run.copy_complete"
    COMPLETED = "run.completed"
    INCOMPLETE = "run.incomplete"
    STALLED = "run.stalled"
    RESUMED = "run.resumed"
    ABORTED = "run.aborted"
    AMENDED = "run.amended"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in RunEventType)
