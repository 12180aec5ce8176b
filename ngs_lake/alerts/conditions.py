"""The alert conditions, judged from plain figures: which (condition, subject) pairs hold now.

Pure: the sources (alerts/sources.py) read the ledger, the watermarks, the dead-letter queue, the
gateways' caches and Dagster's asset checks; these functions only decide. Each finding names
its subject, when its condition began, and the `ngs-lake` command that shows it closer, because
an alert an operator cannot act on is noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ngs_lake.capacity.figures import GatewayCapacity
from ngs_lake.config.units import format_size
from ngs_lake.runs.model import Run, RunState, utc_iso
from ngs_lake.runs.unrecognised import SETTLING_WINDOW, UnrecognisedFolder

WARNING = "warning"
CRITICAL = "critical"

RUN_CONDITIONS = {
    RunState.STALLED: "run_stalled",
    RunState.INCOMPLETE: "run_incomplete",
    RunState.NEEDS_ATTENTION: "run_needs_attention",
}
GATEWAY_SILENT = "gateway_silent"
GATEWAY_UNKNOWN = "gateway_unknown"
DLQ_MESSAGE_OLD = "dlq_message_old"
GATEWAY_BUFFER_LOW = "gateway_buffer_low"
INVENTORY_AUDIT_FAILED = "inventory_audit_failed"
UPLOAD_BACKLOG_GROWING = "upload_backlog_growing"
CONFIG_INVALID = "config_invalid"
FOLDER_UNRECOGNISED = "folder_unrecognised"
UPLOAD_UNCONFIRMED = "upload_unconfirmed"


@dataclass(frozen=True)
class Alert:
    """One condition that holds for one subject; the alert state keeps it as first seen."""

    condition: str
    subject: str
    began_at: datetime
    severity: str
    summary: str
    command: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.condition, self.subject)

    @property
    def alert_id(self) -> str:
        """Stable across republishes and distinct per occurrence: subscribers dedupe on it."""
        return f"{self.condition}/{self.subject}/{utc_iso(self.began_at)}"


def run_findings(runs: Iterable[Run]) -> list[Alert]:
    """A run STALLED, INCOMPLETE or NEEDS_ATTENTION; INCOMPLETE is critical once final (retries
    are spent), NEEDS_ATTENTION always (only an operator moves it on)."""
    out = []
    for run in runs:
        condition = RUN_CONDITIONS.get(run.state)
        if condition is None:
            continue
        critical = run.state == RunState.NEEDS_ATTENTION or (
            run.state == RunState.INCOMPLETE and run.final
        )
        reason = {
            RunState.STALLED: f"silent for {run.silent_seconds:.0f} s"
            if run.silent_seconds
            else "no new files within its stall window",
            RunState.INCOMPLETE: f"verification failed {run.verify_attempts} time(s)",
            RunState.NEEDS_ATTENTION: run.attention_reason or "lifecycle runs failed",
        }[run.state]
        out.append(
            Alert(
                condition,
                run.run_key,
                run.steps.get(run.state.value) or run.last_activity_at,
                CRITICAL if critical else WARNING,
                f"run {run.run_key} is {run.state.value} ({reason})",
                f"ngs-lake runs show {run.run_key}",
            )
        )
    return out


def unrecognised_folder_findings(folders: Iterable[UnrecognisedFolder]) -> list[Alert]:
    """A top-level share folder that matches no run folder of its platform, once settled: its
    files are kept in S3 but no run is made of them, so someone must look."""
    return [
        Alert(
            FOLDER_UNRECOGNISED,
            folder.subject,
            folder.first_seen + SETTLING_WINDOW,
            WARNING,
            f"folder {folder.folder!r} on {folder.sequencer_id} matches no {folder.platform} "
            f"run folder: {folder.reason}",
            "ngs-lake status",
        )
        for folder in folders
    ]


def unconfirmed_upload_findings(
    runs: Iterable[Run], window: float, requests: int, now: datetime
) -> list[Alert]:
    """A MARKER_SEEN run whose upload confirmation has not come `requests` windows after the
    lake first asked for it (it asked again each window meanwhile); the condition began then."""
    out = []
    for run in runs:
        first = run.notification_requested_at
        if run.state != RunState.MARKER_SEEN or first is None:
            continue
        began = first + timedelta(seconds=window * requests)
        if now < began:
            continue
        out.append(
            Alert(
                UPLOAD_UNCONFIRMED,
                run.run_key,
                began,
                WARNING,
                f"run {run.run_key} has waited since {utc_iso(first)} for the gateway to confirm "
                f"its upload (NotifyWhenUploaded on share {run.share_arn}, asked "
                f"{max(run.notify_requests, 1)} time(s), last notification "
                f"{run.notification_id}); its files may still be in the gateway's cache",
                f"ngs-lake runs show {run.run_key}",
            )
        )
    return out


def silent_gateway_findings(
    last_heard: Mapping[str, datetime], gateway_ids: Iterable[str], silence: float, now: datetime
) -> list[Alert]:
    """A gateway of the document whose events stopped `silence` seconds ago (a gateway never
    heard from has no watermark yet and is not judged)."""
    out = []
    for gateway_id in gateway_ids:
        heard = last_heard.get(gateway_id)
        if heard is None or (now - heard).total_seconds() < silence:
            continue
        out.append(
            Alert(
                GATEWAY_SILENT,
                gateway_id,
                heard,
                CRITICAL,
                f"gateway {gateway_id} has sent no event since {utc_iso(heard)}",
                "ngs-lake status",
            )
        )
    return out


def unknown_gateway_findings(unknown: Mapping[str, str], now: datetime) -> list[Alert]:
    """A gateway of the document whose cache the Storage Gateway API does not give (not listed
    by its `arn`, else its name; or DescribeCache failed): its runs' silence and its buffer
    cannot be judged, which an operator must hear of rather than read in a log."""
    return [
        Alert(
            GATEWAY_UNKNOWN,
            gateway_id,
            now,
            CRITICAL,
            f"gateway {gateway_id}: cache unknown, so its runs' stalls and its buffer are not "
            f"judged ({why})",
            "ngs-lake status",
        )
        for gateway_id, why in sorted(unknown.items())
    ]


def dlq_findings(
    sent_times: Mapping[str, list[datetime]], max_age: float, now: datetime
) -> list[Alert]:
    """A dead-letter queue holding a message older than `max_age`; the condition began when the
    oldest one reached that age."""
    out = []
    for queue, times in sent_times.items():
        old = [t for t in times if (now - t).total_seconds() >= max_age]
        if not old:
            continue
        oldest = min(old)
        out.append(
            Alert(
                DLQ_MESSAGE_OLD,
                queue,
                oldest + timedelta(seconds=max_age),
                WARNING,
                f"{len(old)} parked event(s) in {queue} older than {max_age:g} s, the oldest "
                f"sent {utc_iso(oldest)}",
                "ngs-lake dlq list",
            )
        )
    return out


def live_buffer_days(capacity: GatewayCapacity, allocated: int | None, dirty: int) -> float:
    """Days of full-time output the cache can still take: the smaller of the document's and the
    appliance's cache, less what waits to reach S3, over the configured write rate."""
    cache = capacity.cache_bytes if not allocated else min(capacity.cache_bytes, allocated)
    if capacity.write_bytes_per_day <= 0:
        return float("inf")
    return max(0, cache - dirty) / capacity.write_bytes_per_day


def buffer_findings(
    capacities: Iterable[GatewayCapacity],
    caches: Mapping[str, tuple[int | None, int]],
    now: datetime,
) -> list[Alert]:
    """A gateway whose live buffer is under the target; `caches` maps gateway ids to the
    appliance's (allocated, dirty) bytes; a gateway it does not report is not judged."""
    out = []
    for capacity in capacities:
        if capacity.gateway_id not in caches:
            continue
        allocated, dirty = caches[capacity.gateway_id]
        days = live_buffer_days(capacity, allocated, dirty)
        if days >= capacity.target_days:
            continue
        out.append(
            Alert(
                GATEWAY_BUFFER_LOW,
                capacity.gateway_id,
                now,
                WARNING,
                f"gateway {capacity.gateway_id} ({capacity.site}) can buffer {days:.2f} days, "
                f"under the {capacity.target_days:g}-day target ({format_size(dirty)} waiting "
                "to upload)",
                "ngs-lake status",
            )
        )
    return out


@dataclass(frozen=True)
class AuditCheck:
    """The latest evaluation of one inventory audit check, as Dagster holds it."""

    name: str
    passed: bool
    severity: str  # Dagster's AssetCheckSeverity name: ERROR or WARN
    description: str
    evaluated_at: datetime


def audit_findings(checks: Iterable[AuditCheck]) -> list[Alert]:
    return [
        Alert(
            INVENTORY_AUDIT_FAILED,
            f"inventory_catalog/{check.name}",
            check.evaluated_at,
            CRITICAL if check.severity == "ERROR" else WARNING,
            f"inventory audit {check.name} failed: {check.description}",
            f"ngs-lake alerts list --condition {INVENTORY_AUDIT_FAILED}",
        )
        for check in checks
        if not check.passed
    ]


@dataclass(frozen=True)
class BacklogTrend:
    """A gateway's upload backlog since it last shrank: the streak's start and its bytes then,
    and the latest sample."""

    gateway_id: str
    since: datetime
    since_bytes: int
    last_bytes: int


def next_trend(
    previous: BacklogTrend | None, gateway_id: str, dirty: int, now: datetime
) -> BacklogTrend:
    """A backlog that shrank, or is empty, starts a new streak; one that held or grew extends it."""
    if previous is None or dirty == 0 or dirty < previous.last_bytes:
        return BacklogTrend(gateway_id, now, dirty, dirty)
    return BacklogTrend(gateway_id, previous.since, previous.since_bytes, dirty)


def backlog_findings(trends: Iterable[BacklogTrend], window: float, now: datetime) -> list[Alert]:
    """A backlog that has not shrunk for `window` seconds and is larger than at its start."""
    return [
        Alert(
            UPLOAD_BACKLOG_GROWING,
            t.gateway_id,
            t.since,
            WARNING,
            f"gateway {t.gateway_id}'s upload backlog grew from {format_size(t.since_bytes)} to "
            f"{format_size(t.last_bytes)} since {utc_iso(t.since)} without shrinking",
            "ngs-lake status",
        )
        for t in trends
        if (now - t.since).total_seconds() >= window and t.last_bytes > t.since_bytes
    ]


@dataclass(frozen=True)
class DocumentCheck:
    """The config file as the sensor that loaded it found it: its problems (none when it is the
    document in force), and the digest of the document the lake runs on."""

    path: str
    problems: tuple[str, ...]
    digest_in_force: str
    saved_at: datetime


def config_invalid_findings(check: DocumentCheck) -> list[Alert]:
    """The file on disk is invalid: the lake runs on the recorded document meanwhile, and no
    change to it can be planned until the file is fixed."""
    if not check.problems:
        return []
    return [
        Alert(
            CONFIG_INVALID,
            check.path,
            check.saved_at,
            CRITICAL,
            f"{check.path} is invalid ({len(check.problems)} problem(s)): "
            f"{'; '.join(check.problems)}. The lake runs on the last valid document, sha256 "
            f"{check.digest_in_force}, until the file is fixed",
            "ngs-lake config validate",
        )
    ]
