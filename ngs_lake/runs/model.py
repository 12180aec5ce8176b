"""The run, typed: its states, the lifecycle's one transition table, and what each step owes.

Pure: no AWS, no Dagster. The ledger stores these; the lifecycle, the sensor and the CLI read
them. A run's item holds only what is bounded (state, counters, one timestamp per step, the
instrument's metadata); what grows with a run's life, its outbox and its amendments, are items
of their own in the run log (ARCHITECTURE §5), because DynamoDB items stop at 400 KB.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RunState(StrEnum):
    STARTED = "STARTED"
    MARKER_SEEN = "MARKER_SEEN"
    UPLOAD_CONFIRMED = "UPLOAD_CONFIRMED"
    COMPLETED = "COMPLETED"
    STALLED = "STALLED"
    INCOMPLETE = "INCOMPLETE"
    ABORTED = "ABORTED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"  # a lifecycle run failed every attempt


class RunEventType(StrEnum):
    STARTED = "run.started"
    COPY_COMPLETE = "run.copy_complete"
    COMPLETED = "run.completed"
    INCOMPLETE = "run.incomplete"
    STALLED = "run.stalled"
    RESUMED = "run.resumed"
    ABORTED = "run.aborted"
    AMENDED = "run.amended"
    NEEDS_ATTENTION = "run.needs_attention"
    # A later version of a completed run's sample sheet, or one an operator pinned (issue #31).
    SAMPLESHEET_CHANGED = "run.samplesheet_changed"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in RunEventType)
REPEATABLE = frozenset(
    {
        RunEventType.INCOMPLETE,
        RunEventType.STALLED,
        RunEventType.RESUMED,
        RunEventType.AMENDED,
        RunEventType.NEEDS_ATTENTION,
        RunEventType.SAMPLESHEET_CHANGED,
    }
)


class Trigger(StrEnum):
    """What moves a run: an observation of the lake, a verdict, a clock, or an operator."""

    FIRST_FILE = "first file"
    MARKER = "completion marker"
    UPLOAD_CONFIRMED = "upload confirmed"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification failed"
    RETRY = "retry after backoff"
    UNCONFIRMED = "no upload confirmation within the window"
    SILENCE = "silent for a stall window"
    ACTIVITY = "files again"
    ABANDONED = "stalled for N windows"
    LATE_FILES = "files after completion"
    GAVE_UP = "lifecycle run failed every attempt"
    OPERATOR_ABORT = "operator: abort"
    OPERATOR_REVERIFY = "operator: reverify"
    OPERATOR_RETRY = "operator: retry"
    SHEET_REVISED = "a new sample sheet after completion"
    OPERATOR_PIN_SHEET = "operator: pin-sheet"


@dataclass(frozen=True)
class Transition:
    """One row of the table: from `sources` on `trigger` to `target`, owing `announces`.

    A repeatable announcement is numbered by the run counter `counter`, which the transition
    increments in the same write. `target` None: back to the state the run needed attention in.
    """

    trigger: Trigger
    sources: frozenset[RunState]
    target: RunState | None
    announces: RunEventType | None = None
    counter: str | None = None


_S = RunState
_NOT_FINAL = frozenset(
    {_S.STARTED, _S.MARKER_SEEN, _S.UPLOAD_CONFIRMED, _S.STALLED, _S.INCOMPLETE, _S.NEEDS_ATTENTION}
)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(Trigger.FIRST_FILE, frozenset(), _S.STARTED, RunEventType.STARTED),
    Transition(
        Trigger.MARKER,
        frozenset({_S.STARTED, _S.STALLED}),
        _S.MARKER_SEEN,
        RunEventType.COPY_COMPLETE,
    ),
    Transition(Trigger.UPLOAD_CONFIRMED, frozenset({_S.MARKER_SEEN}), _S.UPLOAD_CONFIRMED),
    Transition(
        Trigger.VERIFIED, frozenset({_S.UPLOAD_CONFIRMED}), _S.COMPLETED, RunEventType.COMPLETED
    ),
    Transition(
        Trigger.VERIFICATION_FAILED,
        frozenset({_S.UPLOAD_CONFIRMED}),
        _S.INCOMPLETE,
        RunEventType.INCOMPLETE,
        "verify_attempts",
    ),
    Transition(Trigger.RETRY, frozenset({_S.INCOMPLETE}), _S.MARKER_SEEN),
    # NotifyWhenUploaded asked again: the run stays where it is, under its version.
    Transition(Trigger.UNCONFIRMED, frozenset({_S.MARKER_SEEN}), _S.MARKER_SEEN),
    Transition(
        Trigger.SILENCE, frozenset({_S.STARTED}), _S.STALLED, RunEventType.STALLED, "stalled_count"
    ),
    Transition(
        Trigger.ACTIVITY, frozenset({_S.STALLED}), _S.STARTED, RunEventType.RESUMED, "resumed_count"
    ),
    Transition(Trigger.ABANDONED, frozenset({_S.STALLED}), _S.ABORTED, RunEventType.ABORTED),
    Transition(
        Trigger.LATE_FILES,
        frozenset({_S.COMPLETED}),
        _S.COMPLETED,
        RunEventType.AMENDED,
        "amended_count",
    ),
    Transition(
        Trigger.GAVE_UP,
        frozenset(set(RunState) - {_S.NEEDS_ATTENTION}),
        _S.NEEDS_ATTENTION,
        RunEventType.NEEDS_ATTENTION,
        "attention_count",
    ),
    Transition(Trigger.OPERATOR_ABORT, _NOT_FINAL, _S.ABORTED, RunEventType.ABORTED),
    Transition(
        Trigger.OPERATOR_REVERIFY,
        frozenset({_S.INCOMPLETE, _S.UPLOAD_CONFIRMED, _S.MARKER_SEEN, _S.NEEDS_ATTENTION}),
        _S.MARKER_SEEN,
    ),
    Transition(Trigger.OPERATOR_RETRY, frozenset({_S.NEEDS_ATTENTION}), None),
    # Issue #31: the run stays COMPLETED; consumers are told which sheet now holds.
    Transition(
        Trigger.SHEET_REVISED,
        frozenset({_S.COMPLETED}),
        _S.COMPLETED,
        RunEventType.SAMPLESHEET_CHANGED,
        "sheet_changes",
    ),
    Transition(
        Trigger.OPERATOR_PIN_SHEET,
        frozenset({_S.COMPLETED}),
        _S.COMPLETED,
        RunEventType.SAMPLESHEET_CHANGED,
        "sheet_changes",
    ),
)


class TransitionNotAllowed(ValueError):
    """The table has no row for this state and trigger."""


def transition_for(state: RunState | None, trigger: Trigger) -> Transition:
    """The table's row for `trigger` from `state` (None: the run does not exist yet)."""
    for row in TRANSITIONS:
        if row.trigger == trigger and (
            state in row.sources if state is not None else not row.sources
        ):
            return row
    raise TransitionNotAllowed(f"no transition from {state or 'nothing'} on {trigger.value!r}")


def message_id(run_key: str, event_type: RunEventType, occurrence: int = 1) -> str:
    """`<run_key>#<event_type>`, plus `#<n>` (ARCHITECTURE §6): for the types that can repeat,
    n is the occurrence; for the others (started, copy_complete, completed, aborted), which a
    run announces at most once per epoch, n is the epoch (`Run.epoch`), left out for the first.

    So a message id names one announcement of one epoch and is never reused: a `run.completed`
    after NEEDS_ATTENTION and `runs reverify` is `#run.completed#2`, a new SNS deduplication id,
    while a run that never needed an operator keeps the ids it always had.
    """
    base = f"{run_key}#{event_type.value}"
    return f"{base}#{occurrence}" if event_type in REPEATABLE or occurrence > 1 else base


# SNS FIFO: MessageDeduplicationId and MessageGroupId are at most 128 characters, and a message
# whose dedup id was seen in the last 5 minutes is accepted but not delivered.
# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
SNS_ID_LIMIT = 128


def sns_deduplication_id(message_id: str) -> str:
    """The sha256 hex of the whole message id: distinct messages never share a dedup id, however
    long their run key (a truncated id would make `#1` and `#2` of a long key one message)."""
    return hashlib.sha256(message_id.encode()).hexdigest()


def sns_group_id(run_key: str) -> str:
    """The run key, or its sha256 hex when longer than SNS allows: a run's messages stay in one
    ordered group either way."""
    if len(run_key) <= SNS_ID_LIMIT:
        return run_key
    return hashlib.sha256(run_key.encode()).hexdigest()


def utc_iso(moment: datetime) -> str:
    """`moment` as the ledger's UTC text; the caller says when (from its injected clock)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """ISO 8601, a trailing `Z` included (Python 3.11 reads it as UTC)."""
    return datetime.fromisoformat(text)


MAX_REASONS = 10  # files named as unreadable in one summary
MAX_REASON_CHARS = 300  # each reason cut to this; the run item stays bounded (ARCHITECTURE §5)


class VerificationSummary(BaseModel):
    """What the last failed verification found, bounded to its first 20 missing paths and its
    first 10 reasons: files that could not be read or parsed, each named with its error."""

    model_config = ConfigDict(frozen=True)

    missing_count: int
    first_missing: list[str] = Field(default_factory=list)
    expected: int = 0
    reasons: list[str] = Field(default_factory=list)

    @field_validator("reasons")
    @classmethod
    def _bounded(cls, reasons: list[str]) -> list[str]:
        return [r[:MAX_REASON_CHARS] for r in reasons[:MAX_REASONS]]


class PublishFailure(BaseModel):
    """The sensor's failed attempts to publish one piece of announcement work (`key`): counted
    in the ledger, since no Dagster run records them, so retries stay bounded."""

    model_config = ConfigDict(frozen=True)

    key: str
    count: int
    at: datetime  # the last failed attempt
    first_at: datetime | None = None  # the message's first, in any epoch: SNS's window
    sequence: int | None = None  # the message (the run's first unpublished one)

    @property
    def first(self) -> datetime:
        return self.first_at or self.at


class GatewayFailure(BaseModel):
    """The Storage Gateway call made for a run that failed `count` times in a row (`call`, AWS's
    error code, its message): counted in the ledger so the retries stay bounded, cleared when
    the call next succeeds. `epoch` is the run's `attention_count` then: an operator's retry
    counts afresh."""

    model_config = ConfigDict(frozen=True)

    call: str
    code: str
    message: str
    count: int
    at: datetime
    epoch: int = 0


def _plain_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain_number(v) for v in value]
    return value


class Run(BaseModel):
    """A run as the ledger holds it. Timestamps are UTC; `version` guards every transition."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_key: str
    run_folder: str
    state: RunState
    sequencer_id: str
    platform: str
    site: str
    lab: str = ""
    timezone: str = "UTC"
    bucket: str
    share_arn: str
    gateway_id: str = ""  # the gateway whose watermark judges the run's silence
    started_at: datetime
    last_activity_at: datetime
    recorded_at: datetime | None = None
    version: int = 1
    sequence: int = 0  # the last announcement recorded in the run log
    published_sequence: int = 0  # every announcement up to this one is published
    steps: dict[str, datetime] = Field(default_factory=dict)
    marker_key: str | None = None
    marker_seen_at: datetime | None = None
    notification_id: str | None = None
    # When the lake first asked for the current confirmation (its own clock); kept across the
    # re-requests of one wait, so a notification of any of them covers the run.
    notification_requested_at: datetime | None = None
    notify_requests: int = 0  # NotifyWhenUploaded requests made in the current wait
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None
    completed_at: datetime | None = None
    completion: dict[str, Any] = Field(default_factory=dict)
    stalled_count: int = 0
    resumed_count: int = 0
    amended_count: int = 0
    attention_count: int = 0  # times the run needed an operator; retries count afresh after
    attention_from: RunState | None = None  # the state it needed attention in
    attention_reason: str | None = None
    verify_attempts: int = 0
    retry_after: datetime | None = None
    final: bool = False
    verification: VerificationSummary | None = None
    silent_seconds: float | None = None
    abort_reason: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Flowcell, instrument, run id, date and geometry, from the first metadata read at ingest
    # (runs/run_facts.py), so a STARTED or INCOMPLETE run carries them too.
    facts: dict[str, str] = Field(default_factory=dict)
    publish_failure: PublishFailure | None = None
    manifest_amendments: int = 0  # the amendments the last manifest written covers
    owes_messages: str | None = None  # set while published_sequence < sequence (runs.ledger)
    gateway_failure: GatewayFailure | None = None
    # Issue #31 (runs/sample_sheets.py): the sample sheet version in force (its summary: path,
    # S3 version id, digest, status, counts, never a sample), the one `run.completed` carried,
    # and counters; the versions and their samples are run-log items and S3 objects.
    samplesheet: dict[str, Any] | None = None
    samplesheet_at_completion: dict[str, Any] | None = None
    sheet_versions: int = 0
    sheet_changes: int = 0
    sheet_pins: int = 0

    @field_validator("samplesheet", "samplesheet_at_completion", mode="before")
    @classmethod
    def _plain_numbers(cls, value: Any) -> Any:
        """DynamoDB gives numbers back as Decimals; a summary holds counts."""
        if isinstance(value, dict):
            return {k: _plain_number(v) for k, v in value.items()}
        return value

    @property
    def flowcell(self) -> str | None:
        value = self.metadata.get("flowcell") or self.facts.get("flowcell")
        return str(value) if value else None

    def step_iso(self, state: str) -> str | None:
        """When the run reached `state`, as UTC ISO text; None if it has not."""
        moment = self.steps.get(state)
        return utc_iso(moment) if moment else None

    @property
    def epoch(self) -> int:
        """1, plus one for each time the run needed an operator: a run leaves COMPLETED or
        ABORTED only through NEEDS_ATTENTION, so it announces either at most once per epoch."""
        return self.attention_count + 1

    @property
    def unpublished(self) -> bool:
        return self.published_sequence < self.sequence

    def counter(self, name: str) -> int:
        return int(getattr(self, name))


@dataclass(frozen=True)
class RunFile:
    """One file of a run as its newest upload event described it."""

    run_key: str
    path: str
    size: int
    modified_at: datetime
    event_id: str
    uploaded_at: datetime

    @property
    def version(self) -> tuple[datetime, datetime]:
        """Which of two events for one path is newer: its modification, then its upload."""
        return (self.modified_at, self.uploaded_at)


@dataclass(frozen=True)
class NewRun:
    """What the first file of a run says about it: enough to create it as STARTED."""

    run_key: str
    run_folder: str
    sequencer_id: str
    platform: str
    site: str
    lab: str
    timezone: str
    bucket: str
    share_arn: str
    started_at: datetime
    gateway_id: str = ""


@dataclass(frozen=True)
class EventRecord:
    event_id: str
    kind: str  # file, marker, directory, stray, notification, refresh, rejected
    received_at: datetime
    run_key: str | None = None
    key: str | None = None
    share_arn: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """One announcement owed by a transition, recorded with it; published in `sequence` order.

    The body is rendered once, when first published, and kept, so a republish after a crash
    sends the very same bytes under the same message id.
    """

    run_key: str
    sequence: int
    message_id: str
    event_type: RunEventType
    occurrence: int
    details: dict[str, Any]
    recorded_at: datetime
    body: str | None = None
    published_at: datetime | None = None
    # When the lake first sent it (after `sending_epoch` operator steps), written with the body
    # before the first Publish: a crash between a Publish and its outcome leaves this stamp,
    # so no later send can fall outside SNS's 5-minute deduplication window unseen.
    sending_at: datetime | None = None
    sending_epoch: int | None = None
