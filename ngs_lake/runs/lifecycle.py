"""The run lifecycle after the first file, driven by the transition table in `runs.model`.

The sensor's ingest calls `on_markers`, `on_notifications` and `on_activity` while the triggering
messages are still in SQS (before deleting them), so a crash repeats a step rather than losing
it; every step is a conditional ledger transaction, so repeating one is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ngs_lake.aws.storage_gateway import PERMANENT_CODES, GatewayCallFailed, StorageGatewayShares
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.events import UploadNotification
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.ingest import MarkerSeen
from ngs_lake.runs.ledger import RunLedger, TransitionConflict
from ngs_lake.runs.model import (
    Run,
    RunState,
    Trigger,
    VerificationSummary,
    parse_iso,
    utc_iso,
)
from ngs_lake.runs.retries import Attempt, AttemptStatus, RetryPolicy, Verdict, retry_verdict
from ngs_lake.runs.sample_sheets import SampleSheetRecorder
from ngs_lake.runs.upload_requests import UploadRequest, UploadRequests
from ngs_lake.runs.verification import Verification
from ngs_lake.runs.watermarks import Watermark

log = logging.getLogger(__name__)

MAX_VERIFY_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = (15, 60, 300, 900)
# NotifyWhenUploaded requests in one wait for a confirmation: the first, then one more each
# `lake.upload_confirmation_window`; after the last window the run is alerted
# (`upload_unconfirmed`, alerts/conditions.py).
MAX_NOTIFY_REQUESTS = 4
# States a completion marker moves a run from; in any other the marker is kept on the run.
MARKER_SOURCES = (RunState.STARTED, RunState.STALLED)


@dataclass
class RunProgress:
    """`sequencers`: the runs this sensor looks after (its queue's sites); None for every run.

    With per-site queues each site's sensor retries and watches only its own runs, so two
    sensors never ask the gateway twice for the same run.

    Isolation: a Storage Gateway call that fails (GatewayCallFailed) fails for its run or its
    gateway only. It is counted on the run (`gateway_failure`) and retried after `policy`'s
    backoff; a share or gateway that is gone (FileShareNotFound, GatewayNotFound), or the
    attempts spent, put the run in NEEDS_ATTENTION naming the call and the error. A gateway
    whose cache cannot be read, or that the API does not list, has its runs' silence left
    unjudged. Each such failure is in `problems`, for the tick's report.
    """

    ledger: RunLedger
    shares: StorageGatewayShares
    sequencers: frozenset[str] | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = SYSTEM_CLOCK
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        ledger = self.ledger
        self.requests = UploadRequests(
            ledger.ddb, ledger.names.events_table, self.shares, ledger.events_ttl_days
        )
        self._asked: set[str] = set()  # runs this tick asked the gateway for

    def runs_in_state(self, state: RunState, active_since: str | None = None) -> list[Run]:
        runs = self.ledger.runs_in_state(state, active_since)
        if self.sequencers is None:
            return runs
        return [r for r in runs if r.sequencer_id in self.sequencers]

    def _apply(self, run: Run, trigger: Trigger, **kwargs: Any) -> bool:
        try:
            self.ledger.apply(run, trigger, **kwargs)
            return True
        except TransitionConflict:
            log.info("%s moved on before %s was handled", run.run_key, trigger.value)
            return False

    def on_markers(self, markers: list[MarkerSeen]) -> list[str]:
        """STARTED (or STALLED) -> MARKER_SEEN, after asking the gateway to confirm the upload.

        A run in any other state keeps the marker (`marker_key`), never loses it: a run that
        needs attention takes the step once an operator puts it back (`move_marked`)."""
        moved = []
        for marker in {m.run_key: m for m in markers}.values():
            run = self.ledger.get_run(marker.run_key)
            if run is None:
                continue
            if run.state not in MARKER_SOURCES:
                if run.marker_key is None and self.ledger.record_marker(
                    run.run_key, marker.key, marker.at
                ):
                    log.info("%s is %s: its marker is kept for later", run.run_key, run.state)
                continue
            if self._mark(run, marker.key, marker.at):
                moved.append(marker.run_key)
            elif self.ledger.record_marker(run.run_key, marker.key, marker.at):
                # The step lost a race (the run moved meanwhile): the marker is kept on the
                # run, never lost with its deleted message, and `move_marked` takes the step.
                log.info("%s moved while its marker was handled: kept for later", run.run_key)
        return moved

    def _mark(self, run: Run, key: str, seen_at: datetime) -> bool:
        """The MARKER step. The marker is a fact whether or not the gateway answers: a failed
        request leaves the run MARKER_SEEN with no notification, owed one
        (`request_owed_notifications`)."""
        request = self._ask_gateway(run, run.share_arn, give_up=False)
        fields: dict[str, Any] = {
            "marker_key": key,
            "marker_seen_at": seen_at,
            "notification_id": None,
            "notification_requested_at": None,
        }
        if request is not None:
            fields |= {
                "notification_id": request.notification_id,
                "notification_requested_at": request.requested_at,
                "notify_requests": 1,
                "gateway_failure": None,
            }
            self._asked.add(run.run_key)
        return self._apply(run, Trigger.MARKER, fields=fields)

    def move_marked(self) -> list[str]:
        """Markers kept on runs that could not take the step then (`on_markers`): a STARTED or
        STALLED run with a marker takes it now."""
        moved = []
        for state in MARKER_SOURCES:
            for run in self.runs_in_state(state):
                seen_at = run.marker_seen_at or run.last_activity_at
                if run.marker_key and self._mark(run, run.marker_key, seen_at):
                    moved.append(run.run_key)
        return moved

    def on_notifications(self, notifications: list[UploadNotification]) -> list[str]:
        """MARKER_SEEN -> UPLOAD_CONFIRMED for every run on the share the notification covers.

        A notification covers everything written to the share before it was requested, so it
        confirms its own run and each run on that share whose request the lake made no later,
        both times on the lake's clock (`UploadRequests`). The runs are read consistently: the
        by-state index only suggests candidates, it may lag.
        """
        if not notifications:
            return []
        confirmed: list[str] = []
        suggested = {r.run_key for r in self.ledger.runs_in_state(RunState.MARKER_SEEN)}
        for note in notifications:
            request = self.requests.find(note.notification_id)
            keys = suggested | self._asked | ({request.run_key} if request else set())
            for run in self.ledger.get_runs(sorted(keys)).values():
                if (
                    run.state != RunState.MARKER_SEEN
                    or run.share_arn != note.share_arn
                    or run.run_key in confirmed
                    or not _covers(note, request, run)
                ):
                    continue
                fields = {"confirmed_at": note.completed, "confirmed_by": note.notification_id}
                if self._apply(run, Trigger.UPLOAD_CONFIRMED, fields=fields):
                    confirmed.append(run.run_key)
            if request is None and not confirmed:
                log.info("notification %s matched no waiting run", note.notification_id)
        return confirmed

    def on_activity(
        self, runs: list[Run], late: dict[str, list[str]], newest: dict[str, datetime]
    ) -> None:
        """A STALLED run resumes on activity newer (in event time) than its last; a COMPLETED
        one is amended with `late`, the files new to the ledger. A redelivered or replayed
        event is neither: it is already in the ledger and no newer than the run's activity."""
        for run in runs:
            moment = newest.get(run.run_key)
            if run.state == RunState.STALLED and moment and moment > run.last_activity_at:
                self._apply(run, Trigger.ACTIVITY)
            elif run.state == RunState.COMPLETED and late.get(run.run_key):
                paths = late[run.run_key]
                self._apply(
                    run,
                    Trigger.LATE_FILES,
                    details={"late_files": sorted(set(paths))[:100]},
                    late_paths=paths,
                )

    def ask_again_unconfirmed(self, window: float, now: datetime) -> list[str]:
        """A MARKER_SEEN run whose confirmation has not come within `window` of its first
        request asks the gateway again, once per window, MAX_NOTIFY_REQUESTS requests in all
        (a notification lost, or not matched); after that it is alerted, never asked again."""
        asked = []
        for run in self.runs_in_state(RunState.MARKER_SEEN):
            made = max(run.notify_requests, 1)
            first = run.notification_requested_at
            if first is None or made >= MAX_NOTIFY_REQUESTS:
                continue
            if now < first + timedelta(seconds=window * made):
                continue
            if not self._gateway_due(run):
                continue  # the alert is judged by time, asked or not
            request = self._ask_gateway(run, run.share_arn)
            if request is None:
                continue
            fields = {"notification_id": request.notification_id, "notify_requests": made + 1}
            if self._apply(run, Trigger.UNCONFIRMED, fields=fields):
                self._asked.add(run.run_key)
                asked.append(run.run_key)
        return asked

    def detect_stalls(
        self,
        window_of: Callable[[str], float],
        abort_after: int,
        watermarks: Mapping[str, Watermark],
        gateway_of: Callable[[Run], str],
    ) -> None:
        """STARTED -> STALLED once its last activity is a stall window behind its gateway's
        watermark (the newest event time from that gateway, never the wall clock); STALLED ->
        ABORTED after N windows. A run whose gateway still holds dirty data is not silent: its
        files are in the cache, waiting to upload. Nor is one whose gateway's cache cannot be
        read or is not listed: silence is not proven (fail closed), and the tick reports it."""
        dirty: dict[str, bool | None] = {}
        for state, limit_windows, trigger in (
            (RunState.STARTED, 1, Trigger.SILENCE),
            (RunState.STALLED, abort_after, Trigger.ABANDONED),
        ):
            for run in self.runs_in_state(state):
                gateway = gateway_of(run)
                mark = watermarks.get(gateway)
                if mark is None:
                    continue
                behind = (mark.event_time - run.last_activity_at).total_seconds()
                if behind < window_of(run.sequencer_id) * limit_windows:
                    continue
                if gateway not in dirty:
                    dirty[gateway] = self._cache_dirty(gateway)
                if dirty[gateway] is False:  # only if no activity came in since it was read
                    self._apply(
                        run,
                        trigger,
                        fields={"silent_seconds": behind},
                        details={"silent_seconds": behind},
                        unchanged=("last_activity_at",),
                    )

    def _cache_dirty(self, gateway: str) -> bool | None:
        """The gateway's cache is dirty, clean, or (None) unknown: reported, never assumed."""
        try:
            dirty = self.shares.cache_dirty(gateway)
        except GatewayCallFailed as exc:
            self._report(f"gateway {gateway}: {exc}; its runs' silence is not judged this tick")
            return None
        if dirty is None:
            self._report(
                f"gateway {gateway} is not listed by the Storage Gateway API (matched by its "
                "configured arn, else by its name); its runs' silence is not judged"
            )
        return dirty

    def _report(self, problem: str) -> None:
        log.warning("%s", problem)
        self.problems.append(problem)

    def _ask_gateway(self, run: Run, share_arn: str, give_up: bool = True) -> UploadRequest | None:
        """NotifyWhenUploaded for the run, recorded (`UploadRequests`); None when the gateway
        failed, which is counted on the run, and (`give_up`) puts it in NEEDS_ATTENTION once no
        retry can help."""
        try:
            return self.requests.ask(run.run_key, share_arn, self.clock.now())
        except GatewayCallFailed as exc:
            failure = self.ledger.record_gateway_failure(
                run, exc.call, exc.code, exc.message, self.clock.now()
            )
            self._report(f"{run.run_key}: {exc} ({failure.count} time(s) in a row)")
            failed = run.model_copy(update={"gateway_failure": failure})
            if give_up and self._gateway_verdict(failed) == Verdict.GIVE_UP:
                self._give_up(failed)
            return None

    def _gateway_verdict(self, run: Run) -> Verdict:
        """Whether the run's gateway call is due: at once if none failed (since an operator's
        last reset); after the lifecycle backoff if one did; never, once the share or gateway
        is gone or the attempts are spent."""
        failure = run.gateway_failure
        if failure is None or failure.epoch != run.attention_count:
            return Verdict.REQUEST
        if failure.code in PERMANENT_CODES:
            return Verdict.GIVE_UP
        tried = [Attempt(AttemptStatus.FAILED, failure.at)] * failure.count
        return retry_verdict(tried, self.policy, self.clock.now())

    def _gateway_due(self, run: Run) -> bool:
        verdict = self._gateway_verdict(run)
        if verdict == Verdict.GIVE_UP:
            self._give_up(run)
        return verdict == Verdict.REQUEST

    def _give_up(self, run: Run) -> None:
        failure = run.gateway_failure
        if failure is None:
            return
        reason = f"{failure.call} failed {failure.count} time(s): {failure.code}: {failure.message}"
        if self._apply(
            run,
            Trigger.GAVE_UP,
            fields={"attention_reason": reason},
            details={"reason": reason, "state": run.state.value},
        ):
            log.warning("%s needs attention: %s", run.run_key, reason)

    def retry_incomplete(self, now: datetime | None = None) -> list[str]:
        """INCOMPLETE runs whose backoff has passed ask the gateway again (new notification)."""
        now = now or self.clock.now()
        retried = []
        for run in self.runs_in_state(RunState.INCOMPLETE):
            due = run.retry_after is not None and run.retry_after <= now
            if run.verify_attempts >= MAX_VERIFY_ATTEMPTS or not due:
                continue
            if not self._gateway_due(run):
                continue
            request = self._ask_gateway(run, run.share_arn)
            if request is None:
                continue
            fields = {
                "notification_id": request.notification_id,
                "notification_requested_at": request.requested_at,
                "notify_requests": 1,
                "gateway_failure": None,
            }
            self._asked.add(run.run_key)
            if self._apply(run, Trigger.RETRY, fields=fields):
                retried.append(run.run_key)
        return retried

    def request_owed_notifications(self) -> list[str]:
        """MARKER_SEEN runs whose upload-notification request failed at the gateway ask again,
        within the same bounds as any gateway call (see the class)."""
        requested = []
        for run in self.runs_in_state(RunState.MARKER_SEEN):
            if run.notification_id or not self._gateway_due(run):
                continue
            request = self._ask_gateway(run, run.share_arn)
            if request and self.ledger.record_notification(
                run, request.notification_id, request.requested_at
            ):
                self._asked.add(run.run_key)
                requested.append(run.run_key)
        return requested


def completion_facts(run: Run, verification: Verification, completed: datetime) -> dict[str, Any]:
    """The figures a completed run reports: counts, the expected-file count its geometry gave,
    and the three latencies operators ask about. Kept in the ledger, so the run's partition
    can be reported again from the ledger alone."""
    marker, confirmed = run.marker_seen_at, run.confirmed_at
    last_upload = run.last_activity_at
    return {
        "files": verification.files,
        "bytes": verification.bytes,
        "expected_files": verification.expected_count,
        "sequencing_seconds": (marker - run.started_at).total_seconds() if marker else None,
        "upload_lag_seconds": (confirmed - last_upload).total_seconds() if confirmed else None,
        "marker_to_completion_seconds": (completed - marker).total_seconds() if marker else None,
    }


def complete(
    ledger: RunLedger,
    run: Run,
    verification: Verification,
    records: FixityRecordStore,
    sheets: SampleSheetRecorder,
) -> Run:
    """UPLOAD_CONFIRMED -> COMPLETED, with the run's metadata and figures; `run.completed` owed.
    The fixity record is written first, so a completed run always has one. A sheet S3 still
    refuses (runs/sample_sheets.py) completes it as `samplesheet: unreadable`, naming the file.

    Returns the run as completed. TransitionConflict if the run moved meanwhile.
    """
    run, unread = sheets.unread_at_completion(run, verification.objects)
    completed = ledger.clock.now()
    records.write_verified(run, verification, completed)
    facts = completion_facts(run, verification, completed)
    fields = {
        "completed_at": utc_iso(completed),
        "completion": {k: v for k, v in facts.items() if v is not None},
        "metadata": verification.metadata,
    }
    if unread or run.samplesheet:  # issue #31: the sheet run.completed carries, as it stood
        fields["samplesheet_at_completion"] = fields["samplesheet"] = unread or run.samplesheet
    # A sheet version recorded meanwhile moves these counters: the step is decided again.
    ledger.apply(run, Trigger.VERIFIED, fields=fields, unchanged=("sheet_versions", "sheet_pins"))
    return run.model_copy(
        update={
            **fields,
            "completed_at": parse_iso(fields["completed_at"]),
            "state": RunState.COMPLETED,
            "version": run.version + 1,
            "sequence": run.sequence + 1,  # run.completed
        }
    )


def record_incomplete(ledger: RunLedger, run: Run, verification: Verification) -> int:
    """UPLOAD_CONFIRMED -> INCOMPLETE, with a retry time; `run.incomplete#n` names what is
    missing and the files that could not be read or parsed. Returns the attempt number."""
    attempts = run.verify_attempts + 1
    backoff = RETRY_BACKOFF_SECONDS[min(attempts - 1, len(RETRY_BACKOFF_SECONDS) - 1)]
    summary = VerificationSummary(
        missing_count=len(verification.missing),
        first_missing=verification.missing[:20],
        expected=verification.expected_count,
        reasons=verification.reasons,
    )
    final = attempts >= MAX_VERIFY_ATTEMPTS
    ledger.apply(
        run,
        Trigger.VERIFICATION_FAILED,
        fields={
            "retry_after": ledger.clock.now() + timedelta(seconds=backoff),
            "final": final,
            "verification": summary.model_dump(),
        },
        details=summary.model_dump() | {"final": final},
    )
    return attempts


def _covers(note: UploadNotification, request: UploadRequest | None, run: Run) -> bool:
    """The notification answers the run's own latest request, or a request the lake made no
    earlier than the run's first of this wait (the lake's clock on both sides; the gateway's
    `request-received` is never compared with it)."""
    if run.notification_id == note.notification_id:
        return True
    first = run.notification_requested_at
    if request is None or first is None or request.share_arn != note.share_arn:
        return False
    return first <= request.requested_at
