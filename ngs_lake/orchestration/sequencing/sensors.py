"""`storage_gateway_events`: the sensor that turns gateway events into ledger rows, run
partitions and lifecycle runs.

Each tick drains the queue within its budget (GatewayEventIngest), then reconciles: it asks again
for every announcement the ledger expects and no Dagster run has made, and adds every active run's
partition the instance lacks, because a daemon can die after the SQS deletes and before the tick's
result is stored. Dagster skips a run key it has seen, so a retry after a failure takes the next
attempt number: `<run key>#<event type>#<attempt>` (ARCHITECTURE §7).
"""

from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.config.names import LAKE_WIDE_SENSOR, EventShard, LakeNames
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.orchestration.sequencing.jobs import (
    announce_run,
    announce_run_config,
    complete_run,
    refresh_manifest,
)
from ngs_lake.orchestration.sequencing.partitions import sequencing_runs
from ngs_lake.runs.announcements import message_id
from ngs_lake.runs.ingest import GatewayEventIngest, IngestSettings, TickReport
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.lifecycle import RunProgress, expected_announcements
from ngs_lake.runs.model import RunEventType, RunState

RECENTLY_COMPLETED = timedelta(days=2)
ACTIVE_STATES = (
    RunState.STARTED,
    RunState.MARKER_SEEN,
    RunState.UPLOAD_CONFIRMED,
    RunState.STALLED,
    RunState.INCOMPLETE,
)
IN_FLIGHT = {
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.MANAGED,
}


COMPLETION_PRIORITY = "10"


def announcement_request(
    context: SensorEvaluationContext, run_key: str, event_type: RunEventType, occurrence: int = 1
) -> RunRequest | None:
    """A request for this announcement unless one is already queued or running."""
    mid = message_id(run_key, event_type, occurrence)
    runs = context.instance.get_runs(RunsFilter(tags={"ngs_lake/message_id": mid}))
    if any(r.status in IN_FLIGHT for r in runs):
        return None
    attempt = len(runs) + 1
    return RunRequest(
        run_key=f"{mid}#{attempt}",
        job_name=announce_run.name,
        run_config=announce_run_config(run_key, event_type, occurrence),
        tags={
            "ngs_lake/message_id": mid,
            "ngs_lake/run_key": run_key,
            "ngs_lake/attempt": str(attempt),
        },
    )


def verification_request(context: SensorEvaluationContext, run: dict) -> RunRequest | None:
    """complete_run for a confirmed run, unless one is already queued or running."""
    attempt = int(run.get("verify_attempts", 0)) + 1
    tag = f"{run['run_key']}#verify#{attempt}"
    runs = context.instance.get_runs(RunsFilter(tags={"ngs_lake/verify": tag}))
    if any(r.status in IN_FLIGHT for r in runs):
        return None
    return RunRequest(
        run_key=tag if not runs else f"{tag}.{len(runs) + 1}",
        job_name=complete_run.name,
        partition_key=run["run_key"],
        # Completion is what consumers wait for: the queue starts it before announcements and
        # manifests that were queued earlier.
        tags={
            "ngs_lake/verify": tag,
            "ngs_lake/run_key": run["run_key"],
            "dagster/priority": COMPLETION_PRIORITY,
        },
    )


def reconcile(
    context: SensorEvaluationContext,
    ledger: RunLedger,
    report: TickReport,
    sequencers: frozenset[str] | None = None,
) -> tuple[list[RunRequest], list[str]]:
    """`sequencers`: only their runs (a per-site sensor's); None for every run."""
    requests: list[RunRequest] = []
    recent = (datetime.now(UTC) - RECENTLY_COMPLETED).strftime("%Y-%m-%dT%H:%M:%S")
    active = [run for state in ACTIVE_STATES for run in ledger.runs_in_state(state)]
    active += ledger.runs_in_state(RunState.COMPLETED, active_since=recent)
    active += ledger.runs_in_state(RunState.ABORTED, active_since=recent)
    if sequencers is not None:
        active = [run for run in active if run.get("sequencer_id") in sequencers]
    for run in active:
        outbox = run.get("outbox", {})
        unpublished = [
            (event_type, occurrence)
            for event_type, occurrence in expected_announcements(run)
            if not outbox.get(message_id(run["run_key"], event_type, occurrence), {}).get(
                "published_at"
            )
        ]
        if unpublished:  # one announce_run publishes every pending message, oldest first
            event_type, occurrence = unpublished[0]
            request = announcement_request(context, run["run_key"], event_type, occurrence)
            if request is not None:
                requests.append(request)
        if run["state"] == RunState.UPLOAD_CONFIRMED:
            request = verification_request(context, run)
            if request is not None:
                requests.append(request)
        amended = int(run.get("amended_count", 0))
        if amended:  # Dagster skips the key once used: one refresh per amendment
            requests.append(
                RunRequest(
                    run_key=f"{run['run_key']}#manifest#{amended}",
                    job_name=refresh_manifest.name,
                    partition_key=run["run_key"],
                    tags={"ngs_lake/run_key": run["run_key"]},
                )
            )
    existing = set(context.instance.get_dynamic_partitions(sequencing_runs.name))
    wanted = {run["run_key"] for run in active} | set(report.new_runs)
    return requests, sorted(wanted - existing)


def build_storage_gateway_events_sensor(
    minimum_interval_seconds: int = 5,
    settings: IngestSettings | None = None,
    shard: EventShard | None = None,
) -> SensorDefinition:
    """The sensor for one event queue: the lake-wide one, or one site's (`shard`)."""
    site = shard.site if shard else None

    @sensor(
        name=shard.sensor_name if shard else LAKE_WIDE_SENSOR,
        jobs=[announce_run, complete_run, refresh_manifest],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Drains gateway events into the run ledger and starts lifecycle runs"
        + (f" for site {site}." if site else "."),
    )
    def storage_gateway_events(
        context: SensorEvaluationContext, aws: AwsConnection, lake: LakeConfigResource
    ) -> SensorResult:
        document = lake.load()
        clients = aws.clients(document.lake.region)
        names = LakeNames.of(document)
        sequencers = shard.sequencer_ids(document) if shard and shard.site else None
        ledger = RunLedger(clients, names, document.lake.events_ttl_days)
        progress = RunProgress(ledger, StorageGatewayShares(clients.storagegateway()), sequencers)
        report = GatewayEventIngest(
            clients, names, ledger, settings, progress=progress, shard=shard
        ).drain()
        progress.retry_incomplete()
        progress.detect_stalls(
            document.stall_window_seconds, document.lake.abort_after_stall_windows
        )
        requests, partitions = reconcile(context, ledger, report, sequencers)
        context.log.info(
            f"received {report.received}, recorded {report.recorded}, rejected {report.rejected}, "
            f"new runs {len(report.new_runs)}, requests {len(requests)}, "
            f"ledger writes {report.ledger_write_calls}"
        )
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[sequencing_runs.build_add_request(partitions)]
            if partitions
            else [],
        )

    return storage_gateway_events
