"""One tick of the run core: drain the gateway events, move runs along, and say what is due.

The events sensor calls `run_tick` once per tick and turns the `TickPlan` it returns into Dagster
objects (run requests, partitions); every lifecycle decision is taken here, none in the sensor.
The plan is reconciled from the ledger, not only from this tick's events, because a daemon can
die after the SQS deletes and before the tick's result is stored (ARCHITECTURE §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ngs_lake.aws.clients import AwsClients
from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import EventShard, LakeNames
from ngs_lake.runs.ingest import GatewayEventIngest, IngestSettings, TickReport
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.lifecycle import RunProgress
from ngs_lake.runs.model import Run, RunState, utc_iso

RECENTLY_FINISHED = timedelta(days=2)
ACTIVE_STATES = (
    RunState.STARTED,
    RunState.MARKER_SEEN,
    RunState.UPLOAD_CONFIRMED,
    RunState.STALLED,
    RunState.INCOMPLETE,
)


@dataclass(frozen=True)
class ManifestDue:
    run_key: str
    amendment: int  # the manifest is written again once per amendment


@dataclass
class TickPlan:
    """What Dagster should do after this tick: plain data, no Dagster types."""

    report: TickReport
    announcements_due: list[Run] = field(default_factory=list)  # recorded, not yet published
    verifications_due: list[Run] = field(default_factory=list)  # upload confirmed
    manifests_due: list[ManifestDue] = field(default_factory=list)
    partitions: set[str] = field(default_factory=set)  # every run Dagster should know


def run_tick(
    clients: AwsClients,
    document: LakeConfig,
    shard: EventShard | None = None,
    settings: IngestSettings | None = None,
) -> TickPlan:
    """`shard`: the queue this sensor drains; with per-site queues it looks after only the runs
    of its own sites, so two sensors never act on one run."""
    names = LakeNames.of(document)
    sequencers = shard.sequencer_ids(document) if shard and shard.site else None
    ledger = RunLedger(clients, names, document.lake.events_ttl_days)
    progress = RunProgress(ledger, StorageGatewayShares(clients.storagegateway()), sequencers)
    report = GatewayEventIngest(
        clients, names, ledger, settings, progress=progress, shard=shard
    ).drain()
    progress.retry_incomplete()
    progress.detect_stalls(document.stall_window_seconds, document.lake.abort_after_stall_windows)
    return plan_after(progress, report)


def plan_after(progress: RunProgress, report: TickReport) -> TickPlan:
    """What the ledger says is owed, for every active or recently finished run."""
    recent = utc_iso(datetime.now(UTC) - RECENTLY_FINISHED)
    active = [run for state in ACTIVE_STATES for run in progress.runs_in_state(state)]
    active += progress.runs_in_state(RunState.COMPLETED, active_since=recent)
    active += progress.runs_in_state(RunState.ABORTED, active_since=recent)
    plan = TickPlan(report)
    for run in active:
        if run.unpublished:
            plan.announcements_due.append(run)
        if run.state == RunState.UPLOAD_CONFIRMED:
            plan.verifications_due.append(run)
        if run.amended_count:
            plan.manifests_due.append(ManifestDue(run.run_key, run.amended_count))
    plan.partitions = {run.run_key for run in active} | set(report.new_runs)
    return plan
