"""One tick of the run core: drain the gateway events, move runs along, verify and announce
what fits the tick, and say what is left for Dagster runs.

The events sensor calls `run_tick` once per tick and turns the `TickPlan` it returns into Dagster
objects (run requests, partitions, the asset events of runs verified here); every lifecycle
decision is taken here, none in the sensor.
The plan is reconciled from the ledger, not only from this tick's events, because a daemon can
die after the SQS deletes and before the tick's result is stored (ARCHITECTURE §7).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from botocore.exceptions import ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import EventShard, LakeNames
from ngs_lake.runs.announce_pass import (
    PUBLISH_ATTEMPTS,
    PUBLISH_READ_TIMEOUT_SECONDS,
    AnnounceReport,
    AnnounceWork,
    announce_due,
)
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.ingest import GatewayEventIngest, IngestSettings, TickReport
from ngs_lake.runs.ledger import RunLedger, TransitionConflict
from ngs_lake.runs.lifecycle import RunProgress
from ngs_lake.runs.model import Run, RunState, Trigger, utc_iso
from ngs_lake.runs.retries import (
    Attempt,
    AttemptLog,
    AttemptStatus,
    RetryPolicy,
    Verdict,
    publish_verdict,
    retry_verdict,
)
from ngs_lake.runs.verify_pass import Verified, verify_due
from ngs_lake.runs.watermarks import QueueDrains

log = logging.getLogger(__name__)

RECENTLY_FINISHED = timedelta(days=2)
# A Query on an index the table lacks, or one still backfilling, is a ValidationException:
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.OnlineOps.html
INDEX_NOT_READY = ("ValidationException", "ResourceNotFoundException")
ACTIVE_STATES = (
    RunState.STARTED,
    RunState.MARKER_SEEN,
    RunState.UPLOAD_CONFIRMED,
    RunState.STALLED,
    RunState.INCOMPLETE,
    RunState.NEEDS_ATTENTION,
)


class Work(StrEnum):
    ANNOUNCE = "announce"  # publish the run's recorded, unpublished messages (in the tick)
    VERIFY = "verify"  # verify the run: in the tick, or a run of its sequencing_run partition
    MANIFEST = "manifest"  # write the run's manifest again after an amendment


@dataclass(frozen=True)
class LifecycleRequest:
    """One lifecycle run to launch. `key` names the piece of work across attempts; Dagster's
    run key is `<key>#<attempt>`, never reused."""

    work: Work
    run_key: str
    key: str
    attempt: int


@dataclass
class TickPlan:
    """What Dagster should do after this tick, and what the tick did itself: plain data."""

    report: TickReport
    requests: list[LifecycleRequest] = field(default_factory=list)
    partitions: set[str] = field(default_factory=set)  # every run Dagster should know
    gave_up: list[str] = field(default_factory=list)  # runs moved to NEEDS_ATTENTION
    silent_gateways: list[str] = field(default_factory=list)  # reported silent this tick
    gateway_problems: list[str] = field(default_factory=list)  # gateway calls that failed
    verify_here: list[tuple[LifecycleRequest, Run]] = field(default_factory=list)  # never tried
    announce: list[AnnounceWork] = field(default_factory=list)  # messages due
    verified: list[Verified] = field(default_factory=list)  # verified in this tick
    completed: list[Run] = field(default_factory=list)  # recently COMPLETED, before the tick
    runs: list[Run] = field(default_factory=list)  # active or recently final, as read this tick
    announced: AnnounceReport = field(default_factory=AnnounceReport)


def run_tick(
    clients: AwsClients,
    document: LakeConfig,
    attempts: AttemptLog,
    shard: EventShard | None = None,
    settings: IngestSettings | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> TickPlan:
    """`attempts`: the orchestrator's lifecycle runs for a piece of work. `shard`: the queue this
    sensor drains; with per-site queues it looks after only its own sites' runs. `clock`: the
    time every step of the tick reads (a virtual one in the simulation)."""
    names = LakeNames.of(document)
    sequencers = shard.sequencer_ids(document) if shard and shard.site else None
    ledger = RunLedger(clients, names, document.lake.events_ttl_days, clock)
    policy = RetryPolicy(
        document.lake.lifecycle_run_attempts, document.lake.lifecycle_retry_backoff
    )
    # Bounded like the tick's Publish: a hung gateway costs one call's timeout, and a failed
    # call is counted on its run and tried again by a later tick (RunProgress).
    gateway = clients.bounded(PUBLISH_READ_TIMEOUT_SECONDS, PUBLISH_ATTEMPTS).storagegateway()
    gateway_arns = {g.id: g.arn for g in document.gateways}
    shares = StorageGatewayShares(gateway, gateway_arns)
    progress = RunProgress(ledger, shares, sequencers, policy, clock=clock)
    settings = settings or IngestSettings()
    queue = (shard or names.lake_wide_events()).queue
    hidden_for = timedelta(
        seconds=settings.budget_seconds
        + settings.wait_seconds
        + document.lake.events_visibility_timeout_seconds
    )
    drains = QueueDrains(clients, names, queue, hidden_for, clock)
    ingest = GatewayEventIngest(
        clients, names, ledger, settings, clock, progress=progress, shard=shard, drains=drains
    )
    report = ingest.drain()
    progress.retry_incomplete()
    progress.request_owed_notifications()
    watermarks = ingest.watermarks  # the ones this tick's drain advanced
    marks = watermarks.all()
    now = clock.now()
    silence = timedelta(seconds=document.lake.gateway_silence)
    silent = [
        m.gateway_id
        for m in marks.values()
        if m.silent_since is None
        and now - m.received_at >= silence
        and watermarks.report_silent(m, now)
    ]
    gateway_of_share = {arn: e.gateway_id for arn, e in ingest.catalogue.by_arn.items()}
    if report.drained:  # a backlog half taken in says nothing yet about any run's silence
        progress.detect_stalls(
            document.stall_window_seconds,
            document.lake.abort_after_stall_windows,
            marks,
            lambda run: run.gateway_id or gateway_of_share.get(run.share_arn, ""),
        )
    progress.move_marked()
    progress.ask_again_unconfirmed(document.lake.upload_confirmation_window, now)
    plan = plan_after(progress, report, attempts, policy, now)
    plan.silent_gateways = silent
    plan.gateway_problems = progress.problems
    lifecycle_in_tick(plan, clients, names, ledger, document)
    return plan


def lifecycle_in_tick(
    plan: TickPlan, clients: AwsClients, names: LakeNames, ledger: RunLedger, document: LakeConfig
) -> None:
    """Verify what fits the budget (the rest to Dagster runs), then publish what is owed."""
    bounded = clients.bounded(PUBLISH_READ_TIMEOUT_SECONDS, PUBLISH_ATTEMPTS)
    verify = verify_due(
        ledger,
        bounded.s3(),
        [run for _, run in plan.verify_here],
        document.lake.tick_verify_seconds,
        FixityRecordStore(bounded.s3(), document.lake.catalog_bucket),
    )
    fallback = {run.run_key for run in verify.fallback}
    plan.requests += [request for request, run in plan.verify_here if run.run_key in fallback]
    plan.verified = verify.verified
    queued = {w.run.run_key for w in plan.announce}
    just_verified = [
        AnnounceWork(v.run, _announce_key(v.run))
        for v in verify.verified
        if v.run.run_key not in queued
    ]
    announcer = RunAnnouncer(bounded, names, ledger, document.lake.catalog_bucket)
    plan.announced = announce_due(
        announcer, just_verified + plan.announce, document.lake.tick_publish_seconds
    )


def _announce_key(run: Run) -> str:
    """Names the message the pass publishes next (the first unpublished one): a publish stops
    at a run's first failure, so that is the one whose failures are counted."""
    return f"{run.run_key}#announce#{run.published_sequence + 1}.{run.attention_count}"


def _work_due(run: Run) -> list[tuple[Work, str]]:
    """(work, key) the ledger says a run is owed; the key changes when the work does, and after
    an operator's reset (`attention_count`), so attempts count afresh. A verification is named
    by the run's version: every transition changes it (a `runs reverify` while a verification
    ran included), and a failed attempt that recorded nothing leaves it. A manifest is owed
    until the ledger says one was written with the run's last amendment."""
    epoch = f".{run.attention_count}"
    due = []
    if run.unpublished:
        due.append((Work.ANNOUNCE, _announce_key(run)))
    if run.state == RunState.UPLOAD_CONFIRMED:
        due.append((Work.VERIFY, f"{run.run_key}#verify#v{run.version}"))
    if run.amended_count > run.manifest_amendments and run.state == RunState.COMPLETED:
        due.append((Work.MANIFEST, f"{run.run_key}#manifest#{run.amended_count}{epoch}"))
    return due


def _publish_attempts(run: Run, key: str) -> list[Attempt]:
    """The tick's failed publishes of `key`, as the ledger counted them."""
    failure = run.publish_failure
    if failure is None or failure.key != key:
        return []
    return [Attempt(AttemptStatus.FAILED, failure.at)] * failure.count


def _verdict(
    work: Work, run: Run, tried: list[Attempt], policy: RetryPolicy, now: datetime
) -> Verdict:
    if work != Work.ANNOUNCE:
        return retry_verdict(tried, policy, now)
    failure = run.publish_failure
    if failure is None or failure.sequence not in (None, run.published_sequence + 1):
        return publish_verdict(0, None, None, policy, now)  # a new message: a clean slate
    last = failure.at if tried else None  # this epoch's last failure
    return publish_verdict(len(tried), failure.first, last, policy, now)


def _owing(progress: RunProgress) -> list[Run]:
    """Runs with owed messages, whatever their state or age (the ledger's sparse index). While
    provisioning is still adding the index, the tick goes on with the runs listed by state,
    and says so every tick, rather than stop."""
    try:
        runs = progress.ledger.runs_owing_messages()
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in INDEX_NOT_READY:
            raise
        log.warning("the runs table's `owing` index is not usable yet (%s): run provision", exc)
        return []
    if progress.sequencers is None:
        return runs
    return [r for r in runs if r.sequencer_id in progress.sequencers]


def plan_after(
    progress: RunProgress,
    report: TickReport,
    attempts: AttemptLog,
    policy: RetryPolicy,
    now: datetime,
) -> TickPlan:
    """What the ledger says is owed, for every active or recently finished run and every run
    that owes messages (whatever its age), within the retry policy: a piece of work that
    succeeded is done, one that failed every attempt puts its run in NEEDS_ATTENTION.

    Announcements are the tick's own work, their failures counted in the ledger; a
    verification never tried is the tick's to try; the rest are Dagster runs."""
    recent = utc_iso(now - RECENTLY_FINISHED)
    active = [run for state in ACTIVE_STATES for run in progress.runs_in_state(state)]
    completed = progress.runs_in_state(RunState.COMPLETED, active_since=recent)
    active += completed + progress.runs_in_state(RunState.ABORTED, active_since=recent)
    listed = {run.run_key for run in active}
    active += [run for run in _owing(progress) if run.run_key not in listed]
    # The indexes lag the table (eventually consistent): a publish verdict judged on a stale
    # failure count could retry past SNS's 5-minute dedup window, so the runs that owe messages
    # are read again by key, consistently (one BatchGetItem; few runs owe at once).
    fresh = progress.ledger.get_runs(run.run_key for run in active if run.unpublished)
    active = [fresh.get(run.run_key, run) for run in active]
    plan = TickPlan(report, partitions={run.run_key for run in active} | set(report.new_runs))
    plan.completed = completed
    plan.runs = active
    for run in active:
        for work, key in _work_due(run):
            tried = _publish_attempts(run, key) if work == Work.ANNOUNCE else list(attempts(key))
            verdict = _verdict(work, run, tried, policy, now)
            if verdict == Verdict.REQUEST:
                request = LifecycleRequest(work, run.run_key, key, len(tried) + 1)
                if work == Work.ANNOUNCE:
                    plan.announce.append(AnnounceWork(run, key))
                elif work == Work.VERIFY and not tried:
                    plan.verify_here.append((request, run))
                else:
                    plan.requests.append(request)
            elif verdict == Verdict.GIVE_UP and run.state != RunState.NEEDS_ATTENTION:
                _give_up(progress.ledger, run, work, len(tried), plan)
                break  # the run has moved; the next tick sees its new state
    return plan


def _give_up(ledger: RunLedger, run: Run, work: Work, tried: int, plan: TickPlan) -> None:
    reason = f"{work.value} failed {tried} times"
    try:
        ledger.apply(
            run,
            Trigger.GAVE_UP,
            fields={"attention_reason": reason},
            details={"reason": reason, "state": run.state.value},
        )
        plan.gave_up.append(run.run_key)
    except TransitionConflict:
        pass  # moved meanwhile: judged again next tick
