"""`storage_gateway_events`: the sensor that runs one tick of the run core and turns the plan it
returns into Dagster run requests and partitions.

It holds no lifecycle logic: `runs.tick.run_tick` decides what is due. What stays here is
Dagster's side: not requesting a run that is already queued or running, and the run keys.
Dagster skips a run key it has seen, so a retry after a failure takes the next attempt number:
`<run key>#<step>#<attempt>` (ARCHITECTURE §7).
"""

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

from ngs_lake.config.names import LAKE_WIDE_SENSOR, EventShard
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.orchestration.sequencing.jobs import announce_run, complete_run, refresh_manifest
from ngs_lake.orchestration.sequencing.partitions import sequencing_runs
from ngs_lake.runs.ingest import IngestSettings
from ngs_lake.runs.model import Run
from ngs_lake.runs.tick import ManifestDue, TickPlan, run_tick

IN_FLIGHT = {
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.MANAGED,
}
# Completion is what consumers wait for: the queue starts it before announcements and manifests
# that were queued earlier.
COMPLETION_PRIORITY = "10"


def _request_unless_in_flight(
    context: SensorEvaluationContext,
    tag: str,
    value: str,
    job_name: str,
    tags: dict[str, str],
    partition_key: str | None = None,
    run_config: dict | None = None,
) -> RunRequest | None:
    """A request keyed `<value>#<attempt>`, unless a run tagged `tag=value` is in flight."""
    runs = context.instance.get_runs(RunsFilter(tags={tag: value}))
    if any(r.status in IN_FLIGHT for r in runs):
        return None
    attempt = len(runs) + 1
    return RunRequest(
        run_key=f"{value}#{attempt}",
        job_name=job_name,
        partition_key=partition_key,
        run_config=run_config or {},
        tags={tag: value, "ngs_lake/attempt": str(attempt), **tags},
    )


def announcement_request(context: SensorEvaluationContext, run: Run) -> RunRequest | None:
    """announce_run publishes every recorded, unpublished message of the run, oldest first."""
    return _request_unless_in_flight(
        context,
        "ngs_lake/announce",
        f"{run.run_key}#announce#{run.sequence}",
        announce_run.name,
        {"ngs_lake/run_key": run.run_key},
        run_config={"ops": {"announce": {"config": {"run_key": run.run_key}}}},
    )


def verification_request(context: SensorEvaluationContext, run: Run) -> RunRequest | None:
    """complete_run for a confirmed run, unless one is already queued or running."""
    return _request_unless_in_flight(
        context,
        "ngs_lake/verify",
        f"{run.run_key}#verify#{run.verify_attempts + 1}",
        complete_run.name,
        {"ngs_lake/run_key": run.run_key, "dagster/priority": COMPLETION_PRIORITY},
        partition_key=run.run_key,
    )


def manifest_request(due: ManifestDue) -> RunRequest:
    """Dagster skips the key once used: one refresh per amendment."""
    return RunRequest(
        run_key=f"{due.run_key}#manifest#{due.amendment}",
        job_name=refresh_manifest.name,
        partition_key=due.run_key,
        tags={"ngs_lake/run_key": due.run_key},
    )


def dagster_requests(context: SensorEvaluationContext, plan: TickPlan) -> list[RunRequest]:
    requests = [announcement_request(context, run) for run in plan.announcements_due]
    requests += [verification_request(context, run) for run in plan.verifications_due]
    requests += [manifest_request(due) for due in plan.manifests_due]
    return [r for r in requests if r is not None]


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
        plan = run_tick(aws.clients(document.lake.region), document, shard, settings)
        requests = dagster_requests(context, plan)
        missing = plan.partitions - set(
            context.instance.get_dynamic_partitions(sequencing_runs.name)
        )
        report = plan.report
        context.log.info(
            f"received {report.received}, recorded {report.recorded}, rejected {report.rejected}, "
            f"new runs {len(report.new_runs)}, requests {len(requests)}, "
            f"ledger writes {report.ledger_write_calls}"
        )
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[sequencing_runs.build_add_request(sorted(missing))]
            if missing
            else [],
        )

    return storage_gateway_events
