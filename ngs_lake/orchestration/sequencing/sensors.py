"""`storage_gateway_events`: the sensor that runs one tick of the run core and turns the plan it
returns into Dagster run requests and partitions.

It holds no lifecycle logic: `runs.tick.run_tick` decides what is due, when a failed lifecycle
run is tried again and when to stop. What stays here is Dagster's side: reading the attempts
from the instance, and turning each request into a RunRequest. Dagster skips a run key it has
seen, so an attempt's key is `<work key>#<attempt>` (ARCHITECTURE §7).
"""

from datetime import UTC, datetime

from dagster import (
    DagsterInstance,
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
from ngs_lake.runs.retries import Attempt, AttemptLog, AttemptStatus
from ngs_lake.runs.tick import LifecycleRequest, Work, run_tick

IN_FLIGHT = {
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.MANAGED,
    DagsterRunStatus.CANCELING,
}
FAILED = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
WORK_TAG = "ngs_lake/work"
# Completion is what consumers wait for: the queue starts it before announcements and manifests
# that were queued earlier.
COMPLETION_PRIORITY = "10"
JOBS = {Work.ANNOUNCE: announce_run, Work.VERIFY: complete_run, Work.MANIFEST: refresh_manifest}


def attempt_log(instance: DagsterInstance) -> AttemptLog:
    """The instance's lifecycle runs for one piece of work, as the run core reads attempts."""

    def attempts(key: str) -> list[Attempt]:
        out = []
        for record in instance.get_run_records(RunsFilter(tags={WORK_TAG: key})):
            status = record.dagster_run.status
            if status in IN_FLIGHT:
                out.append(Attempt(AttemptStatus.IN_FLIGHT))
            else:
                failed = status in FAILED
                out.append(
                    Attempt(
                        AttemptStatus.FAILED if failed else AttemptStatus.SUCCEEDED,
                        record.end_time and datetime.fromtimestamp(record.end_time, UTC),
                    )
                )
        return out

    return attempts


def run_request(request: LifecycleRequest) -> RunRequest:
    """The Dagster run for one lifecycle request; its run key is never reused."""
    tags = {
        WORK_TAG: request.key,
        "ngs_lake/run_key": request.run_key,
        "ngs_lake/attempt": str(request.attempt),
    }
    if request.work == Work.VERIFY:
        tags["dagster/priority"] = COMPLETION_PRIORITY
    return RunRequest(
        run_key=f"{request.key}#{request.attempt}",
        job_name=JOBS[request.work].name,
        partition_key=None if request.work == Work.ANNOUNCE else request.run_key,
        run_config={"ops": {"announce": {"config": {"run_key": request.run_key}}}}
        if request.work == Work.ANNOUNCE
        else {},
        tags=tags,
    )


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
        plan = run_tick(clients, document, attempt_log(context.instance), shard, settings)
        requests = [run_request(r) for r in plan.requests]
        for gateway in plan.silent_gateways:
            context.log.warning(f"gateway {gateway} silent: no events for lake.gateway_silence")
        for run_key in plan.gave_up:
            context.log.warning(f"{run_key} needs attention: its lifecycle runs kept failing")
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
