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
from ngs_lake.runs.verification import Verification
from ngs_lake.runs.watermarks import Watermark

log = logging.getLogger(__name__)

MAX_VERIFY_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = (15, 60, 300, 900)


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
        """STARTED (or STALLED) -> MARKER_SEEN, after asking the gateway to confirm the upload."""
        moved = []
        for marker in {m.run_key: m for m in markers}.values():
            run = self.ledger.get_run(marker.run_key)
            if run is None or run.state not in (RunState.STARTED, RunState.STALLED):
                continue
            # The marker is a fact whether or not the gateway answers: a failed request leaves
            # the run MARKER_SEEN with no notification, owed one (request_owed_notifications).
            notification_id = self._ask_gateway(run, marker.share_arn, give_up=False)
            fields = {
                "marker_key": marker.key,
                "marker_seen_at": marker.at,
                "notification_id": notification_id,
                "notification_requested_at": utc_iso(self.clock.now()) if notification_id else None,
            }
            if notification_id:
                fields["gateway_failure"] = None
            if self._apply(run, Trigger.MARKER, fields=fields):
                moved.append(marker.run_key)
        return moved

    def on_notifications(self, notifications: list[UploadNotification]) -> list[str]:
        """MARKER_SEEN -> UPLOAD_CONFIRMED for every run on the share the notification covers.

        A notification covers everything written to the share before it was requested, so it
        confirms each run on that share whose own request was made no later than this one.
        """
        if not notifications:
            return []
        confirmed: list[str] = []
        waiting = self.ledger.runs_in_state(RunState.MARKER_SEEN)
        for note in notifications:
            for run in waiting:
                if run.share_arn != note.share_arn or run.run_key in confirmed:
                    continue
                own = run.notification_id == note.notification_id
                requested = run.notification_requested_at
                if not (own or (requested is not None and requested <= note.request_received)):
                    continue
                fields = {"confirmed_at": note.completed, "confirmed_by": note.notification_id}
                if self._apply(run, Trigger.UPLOAD_CONFIRMED, fields=fields):
                    confirmed.append(run.run_key)
        return confirmed

    def on_activity(self, runs: list[Run], late: dict[str, list[str]]) -> None:
        """New files for known runs: a STALLED run resumes; a COMPLETED one is amended."""
        for run in runs:
            if run.state == RunState.STALLED:
                self._apply(run, Trigger.ACTIVITY)
            elif run.state == RunState.COMPLETED and late.get(run.run_key):
                paths = late[run.run_key]
                self._apply(
                    run,
                    Trigger.LATE_FILES,
                    details={"late_files": sorted(set(paths))[:100]},
                    late_paths=paths,
                )

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
                if dirty[gateway] is False:
                    self._apply(
                        run,
                        trigger,
                        fields={"silent_seconds": behind},
                        details={"silent_seconds": behind},
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

    def _ask_gateway(self, run: Run, share_arn: str, give_up: bool = True) -> str | None:
        """NotifyWhenUploaded for the run; None when the gateway failed, which is counted on
        the run, and (`give_up`) puts it in NEEDS_ATTENTION once no retry can help."""
        try:
            return self.shares.notify_when_uploaded(share_arn)
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
            notification_id = self._ask_gateway(run, run.share_arn)
            if notification_id is None:
                continue
            fields = {
                "notification_id": notification_id,
                "notification_requested_at": utc_iso(self.clock.now()),
                "gateway_failure": None,
            }
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
            notification_id = self._ask_gateway(run, run.share_arn)
            if notification_id and self.ledger.record_notification(
                run, notification_id, self.clock.now()
            ):
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


def complete(ledger: RunLedger, run: Run, verification: Verification) -> Run:
    """UPLOAD_CONFIRMED -> COMPLETED, with the run's metadata and figures; `run.completed` owed.

    Returns the run as completed. TransitionConflict if the run moved meanwhile.
    """
    completed = ledger.clock.now()
    facts = completion_facts(run, verification, completed)
    fields = {
        "completed_at": utc_iso(completed),
        "completion": {k: v for k, v in facts.items() if v is not None},
        "metadata": verification.metadata,
    }
    ledger.apply(run, Trigger.VERIFIED, fields=fields)
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
