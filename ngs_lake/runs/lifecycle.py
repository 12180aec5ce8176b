"""The run lifecycle after the first file: marker seen, upload confirmed, completed or incomplete.

The sensor calls `on_markers` and `on_notifications` while the triggering messages are still in
SQS (before deleting them), so a crash repeats a step rather than losing it; every step is a
conditional ledger transition, so repeating one is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.runs.events import UploadNotification
from ngs_lake.runs.ingest import MarkerSeen
from ngs_lake.runs.ledger import RunLedger, TransitionConflict, utc_iso
from ngs_lake.runs.model import RunEventType, RunState
from ngs_lake.runs.verification import Verification

log = logging.getLogger(__name__)

MAX_VERIFY_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = (15, 60, 300, 900)


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class RunProgress:
    """`sequencers`: the runs this sensor looks after (its queue's sites); None for every run.

    With per-site queues each site's sensor retries and watches only its own runs, so two
    sensors never ask the gateway twice for the same run.
    """

    ledger: RunLedger
    shares: StorageGatewayShares
    sequencers: frozenset[str] | None = None

    def _runs_in_state(self, state: RunState) -> list[dict[str, Any]]:
        runs = self.ledger.runs_in_state(state)
        if self.sequencers is None:
            return runs
        return [r for r in runs if r.get("sequencer_id") in self.sequencers]

    def on_markers(self, markers: list[MarkerSeen]) -> list[str]:
        """STARTED (or STALLED) -> MARKER_SEEN, after asking the gateway to confirm the upload."""
        moved = []
        for marker in {m.run_key: m for m in markers}.values():
            run = self.ledger.get_run(marker.run_key)
            if run is None or run["state"] not in (RunState.STARTED, RunState.STALLED):
                continue
            notification_id = self.shares.notify_when_uploaded(marker.share_arn)
            try:
                self.ledger.transition(
                    marker.run_key,
                    [RunState.STARTED, RunState.STALLED],
                    RunState.MARKER_SEEN,
                    int(run["version"]),
                    {
                        "marker_key": marker.key,
                        "marker_seen_at": utc_iso(marker.at),
                        "notification_id": notification_id,
                        "notification_requested_at": utc_iso(),
                    },
                )
                moved.append(marker.run_key)
            except TransitionConflict:
                log.info("%s moved on before its marker was handled", marker.run_key)
        return moved

    def on_notifications(self, notifications: list[UploadNotification]) -> list[str]:
        """MARKER_SEEN -> UPLOAD_CONFIRMED for every run on the share the notification covers.

        A notification covers everything written to the share before it was requested, so it
        confirms each run on that share whose own request was made no later than this one.
        """
        if not notifications:
            return []
        confirmed = []
        waiting = self.ledger.runs_in_state(RunState.MARKER_SEEN)
        for note in notifications:
            for run in waiting:
                if run["share_arn"] != note.share_arn or run["run_key"] in confirmed:
                    continue
                own = run.get("notification_id") == note.notification_id
                requested = run.get("notification_requested_at")
                earlier = requested is not None and parse_iso(requested) <= note.request_received
                if not (own or earlier):
                    continue
                try:
                    self.ledger.transition(
                        run["run_key"],
                        [RunState.MARKER_SEEN],
                        RunState.UPLOAD_CONFIRMED,
                        int(run["version"]),
                        {
                            "confirmed_at": utc_iso(note.completed),
                            "confirmed_by": note.notification_id,
                        },
                    )
                    confirmed.append(run["run_key"])
                except TransitionConflict:
                    continue
        return confirmed

    def on_activity(self, runs: list[dict[str, Any]], late: dict[str, list[str]]) -> None:
        """New files for known runs: a STALLED run resumes; a COMPLETED one is amended."""
        for run in runs:
            key = run["run_key"]
            try:
                if run["state"] == RunState.STALLED:
                    self.ledger.transition(
                        key,
                        [RunState.STALLED],
                        RunState.STARTED,
                        int(run["version"]),
                        {"resumed_count": int(run.get("resumed_count", 0)) + 1},
                    )
                elif run["state"] == RunState.COMPLETED and late.get(key):
                    amended = int(run.get("amended_count", 0)) + 1
                    self.ledger.transition(
                        key,
                        [RunState.COMPLETED],
                        RunState.COMPLETED,
                        int(run["version"]),
                        {
                            "amended_count": amended,
                            f"amended_{amended}": sorted(set(late[key]))[:100],
                        },
                    )
            except TransitionConflict:
                log.info("%s changed meanwhile; the next event will catch up", key)

    def detect_stalls(
        self, window_of: Callable[[str], float], abort_after: int, now: datetime | None = None
    ) -> None:
        """STARTED -> STALLED after a silent stall window; STALLED -> ABORTED after N of them."""
        now = now or datetime.now(UTC)
        for state, limit_windows, new_state in (
            (RunState.STARTED, 1, RunState.STALLED),
            (RunState.STALLED, abort_after, RunState.ABORTED),
        ):
            for run in self._runs_in_state(state):
                window = window_of(run["sequencer_id"]) * limit_windows
                silent = (now - parse_iso(run["last_activity_at"])).total_seconds()
                if silent < window:
                    continue
                fields: dict[str, Any] = {"silent_seconds": silent}
                if new_state == RunState.STALLED:
                    fields["stalled_count"] = int(run.get("stalled_count", 0)) + 1
                try:
                    self.ledger.transition(
                        run["run_key"], [state], new_state, int(run["version"]), fields
                    )
                except TransitionConflict:
                    continue

    def retry_incomplete(self, now: datetime | None = None) -> list[str]:
        """INCOMPLETE runs whose backoff has passed ask the gateway again (new notification)."""
        now = now or datetime.now(UTC)
        retried = []
        for run in self._runs_in_state(RunState.INCOMPLETE):
            attempts = int(run.get("verify_attempts", 0))
            retry_after = run.get("retry_after")
            if (
                attempts >= MAX_VERIFY_ATTEMPTS
                or retry_after is None
                or parse_iso(retry_after) > now
            ):
                continue
            notification_id = self.shares.notify_when_uploaded(run["share_arn"])
            try:
                self.ledger.transition(
                    run["run_key"],
                    [RunState.INCOMPLETE],
                    RunState.MARKER_SEEN,
                    int(run["version"]),
                    {"notification_id": notification_id, "notification_requested_at": utc_iso()},
                )
                retried.append(run["run_key"])
            except TransitionConflict:
                continue
        return retried


def completion_facts(run: dict[str, Any], verification: Verification) -> dict[str, Any]:
    """The figures a completed run reports: counts, and the three latencies operators ask about."""
    steps = run.get("steps", {})
    started = parse_iso(run["started_at"])
    marker = parse_iso(run["marker_seen_at"]) if run.get("marker_seen_at") else None
    confirmed = parse_iso(run["confirmed_at"]) if run.get("confirmed_at") else None
    completed = datetime.now(UTC)
    last_upload = parse_iso(run["last_activity_at"]) if run.get("last_activity_at") else None
    return {
        "files": verification.files,
        "bytes": verification.bytes,
        "sequencing_seconds": (marker - started).total_seconds() if marker else None,
        "upload_lag_seconds": (confirmed - last_upload).total_seconds()
        if confirmed and last_upload
        else None,
        "marker_to_completion_seconds": (completed - marker).total_seconds() if marker else None,
        "steps": steps,
    }


def incomplete_fields(run: dict[str, Any], verification: Verification) -> dict[str, Any]:
    attempts = int(run.get("verify_attempts", 0)) + 1
    backoff = RETRY_BACKOFF_SECONDS[min(attempts - 1, len(RETRY_BACKOFF_SECONDS) - 1)]
    return {
        "verify_attempts": attempts,
        "retry_after": utc_iso(datetime.now(UTC) + timedelta(seconds=backoff)),
        "final": attempts >= MAX_VERIFY_ATTEMPTS,
        "verification": {
            "missing_count": len(verification.missing),
            "first_missing": verification.missing[:20],
            "expected": verification.expected_count,
        },
    }


def expected_announcements(run: dict[str, Any]) -> list[tuple[RunEventType, int]]:
    """What the ledger says should have been announced for a run, in the order it happened."""
    steps = run.get("steps", {})
    expected = []
    if "STARTED" in steps:
        expected.append((RunEventType.STARTED, 1))
    stalled, resumed = int(run.get("stalled_count", 0)), int(run.get("resumed_count", 0))
    for n in range(1, stalled + 1):
        expected.append((RunEventType.STALLED, n))
        if n <= resumed:
            expected.append((RunEventType.RESUMED, n))
    if "MARKER_SEEN" in steps:
        expected.append((RunEventType.COPY_COMPLETE, 1))
    attempts = int(run.get("verify_attempts", 0))
    expected += [(RunEventType.INCOMPLETE, n) for n in range(1, attempts + 1)]
    if run["state"] == RunState.COMPLETED:
        expected.append((RunEventType.COMPLETED, 1))
        amended = int(run.get("amended_count", 0))
        expected += [(RunEventType.AMENDED, n) for n in range(1, amended + 1)]
    if run["state"] == RunState.ABORTED:
        expected.append((RunEventType.ABORTED, 1))
    return expected
