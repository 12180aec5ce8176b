"""`storage_gateway_events`: the sensor that runs one tick of the run core and turns the plan it
returns into Dagster run requests, partitions and asset events.

It holds no lifecycle logic: `runs.tick.run_tick` decides what is due, verifies and announces
what fits the tick, and says when a failed lifecycle run is tried again and when to stop. What
stays here is Dagster's side: reading the attempts from the instance, turning each request into
a RunRequest (Dagster skips a run key it has seen, so an attempt's key is
`<work key>#<attempt>`, ARCHITECTURE §7), and reporting the `sequencing_run` partitions the tick
verified. The daemon stores those asset events only after the tick returns, so a crash in
between loses them: every tick reports again each recently completed run whose partition has
no materialization and no Dagster run verifying it.
"""

from datetime import UTC, datetime

from dagster import (
    AssetCheckEvaluation,
    AssetMaterialization,
    AssetObservation,
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

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LAKE_WIDE_SENSOR, EventShard, LakeNames
from ngs_lake.operations.in_flight import IN_FLIGHT_STATES
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.orchestration.sequencing.in_flight import (
    ReportedStates,
    state_observations,
    table_observation,
)
from ngs_lake.orchestration.sequencing.jobs import complete_run, refresh_manifest
from ngs_lake.orchestration.sequencing.partition_reports import (
    SEQUENCING_RUN,
    completed_check_outcomes,
    reported_events,
)
from ngs_lake.orchestration.sequencing.partitions import sequencing_runs
from ngs_lake.runs.ingest import IngestSettings
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import Run
from ngs_lake.runs.retries import Attempt, AttemptLog, AttemptStatus
from ngs_lake.runs.tick import LifecycleRequest, TickPlan, Work, run_tick

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
RUN_KEY_TAG = "ngs_lake/run_key"
JOBS = {Work.VERIFY: complete_run, Work.MANIFEST: refresh_manifest}


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
        RUN_KEY_TAG: request.run_key,
        "ngs_lake/attempt": str(request.attempt),
    }
    if request.work == Work.VERIFY:
        tags["dagster/priority"] = COMPLETION_PRIORITY
    return RunRequest(
        run_key=f"{request.key}#{request.attempt}",
        job_name=JOBS[request.work].name,
        partition_key=request.run_key,
        tags=tags,
    )


AssetEvent = AssetMaterialization | AssetCheckEvaluation | AssetObservation


def asset_events(instance: DagsterInstance, plan: TickPlan) -> list[AssetEvent]:
    """The partitions this tick verified, and the reconcile pass: every recently completed run
    whose partition the instance does not show materialized, unless a Dagster run of it is in
    flight (that run materializes it itself)."""
    events: list[AssetEvent] = []
    for run in [v.run for v in plan.verified] + _unreported(instance, plan.completed):
        events += reported_events(run, completed_check_outcomes(run))
    return events


def _unreported(instance: DagsterInstance, completed: list[Run]) -> list[Run]:
    if not completed:
        return []
    shown = instance.get_materialized_partitions(SEQUENCING_RUN)
    return [
        run
        for run in completed
        if run.run_key not in shown
        and not instance.get_run_records(
            RunsFilter(tags={RUN_KEY_TAG: run.run_key}, statuses=list(IN_FLIGHT)), limit=1
        )
    ]


def in_flight_events(
    plan: TickPlan, reported: ReportedStates, table_runs: list[Run] | None
) -> list[AssetEvent]:
    """Each run's state change since the last report, and the in-flight table of `table_runs`
    when it changed (None: this sensor does not report the table)."""
    events: list[AssetEvent] = state_observations(plan.runs, reported)
    table = None if table_runs is None else table_observation(table_runs, reported, _now())
    return events + ([table] if table else [])


def _now() -> datetime:
    return datetime.now(UTC)


def build_storage_gateway_events_sensor(
    minimum_interval_seconds: int = 5,
    settings: IngestSettings | None = None,
    shard: EventShard | None = None,
    reports_in_flight: bool = True,
) -> SensorDefinition:
    """The sensor for one event queue: the lake-wide one, or one site's (`shard`). With per-site
    queues, one of them (`reports_in_flight`) reports the whole lake's `runs_in_flight`."""
    site = shard.site if shard else None

    def _table_runs(clients: AwsClients, document: LakeConfig, plan: TickPlan) -> list[Run] | None:
        """The runs the in-flight table lists: this tick's, or with a site's queue the whole
        lake's (one GSI query per state)."""
        if not reports_in_flight:
            return None
        if not site:
            return plan.runs
        ledger = RunLedger(clients, LakeNames.of(document))
        return [run for state in IN_FLIGHT_STATES for run in ledger.runs_in_state(state)]

    @sensor(
        name=shard.sensor_name if shard else LAKE_WIDE_SENSOR,
        jobs=[complete_run, refresh_manifest],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Drains gateway events into the run ledger, verifies and announces runs, "
        "and starts the lifecycle runs that do not fit its tick"
        + (f" for site {site}." if site else "."),
    )
    def storage_gateway_events(
        context: SensorEvaluationContext, aws: AwsConnection, lake: LakeConfigResource
    ) -> SensorResult:
        document = lake.load(aws)
        clients = aws.clients(document.lake.region)
        plan = run_tick(clients, document, attempt_log(context.instance), shard, settings)
        requests = [run_request(r) for r in plan.requests]
        reported = ReportedStates.parse(context.cursor)
        events = asset_events(context.instance, plan)
        events += in_flight_events(plan, reported, _table_runs(clients, document, plan))
        for gateway in plan.silent_gateways:
            context.log.warning(f"gateway {gateway} silent: no events for lake.gateway_silence")
        for problem in plan.gateway_problems:  # isolated: the tick went on with the others
            context.log.warning(f"Storage Gateway: {problem}")
        for run_key in plan.gave_up:
            context.log.warning(f"{run_key} needs attention: its lifecycle runs kept failing")
        missing = plan.partitions - set(
            context.instance.get_dynamic_partitions(sequencing_runs.name)
        )
        report = plan.report
        announced = plan.announced
        context.log.info(
            f"received {report.received}, recorded {report.recorded}, rejected {report.rejected}, "
            f"new runs {len(report.new_runs)}, requests {len(requests)}, "
            f"ledger writes {report.ledger_write_calls}, verified {len(plan.verified)}, "
            f"published {len(announced.published)}, publish failed {len(announced.failed)}, "
            f"deferred {len(announced.deferred)}, asset events {len(events)}"
        )
        return SensorResult(
            run_requests=requests,
            asset_events=events,
            cursor=reported.dump(),
            dynamic_partitions_requests=[sequencing_runs.build_add_request(sorted(missing))]
            if missing
            else [],
        )

    return storage_gateway_events
