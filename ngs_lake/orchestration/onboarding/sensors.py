"""When the config document's content changes: plan, record the plan for review, refresh the
capacity report; apply only where `lake.auto_apply` is in force (the local target). The first
tick (no cursor) refreshes no capacity report: the report of the document first seen comes with
the first inventory catalogue (`catalogue_refresh_job`) and the daily schedule, so start-up
materializes it once, not once per trigger.

A change to a clinical lab's infrastructure is planned, reviewed, then applied by a person
(`ngs-lake provision --apply`, or `provision_lake` launched with the plan's digest), so the plan
is recorded as a materialization of `provisioning_plan`: counts, every change with the
irreversible ones first, and its digest. An invalid file changes nothing: the lake runs on the
recorded document and the alerts sensor reports `config_invalid`.

The cursor alone detects a change (the last valid content's SHA-256). The requests carry no run
key: Dagster never runs a key twice, so a digest key would ignore a revert from B back to A.
"""

from dagster import (
    AssetMaterialization,
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from ngs_lake.orchestration.capacity.assets import capacity_report_job
from ngs_lake.orchestration.onboarding.assets import LAKE_CONFIG, PROVISIONING_PLAN
from ngs_lake.orchestration.onboarding.jobs import provision_lake
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.provisioning import ProvisioningRefused, plan_lake
from ngs_lake.provisioning.approvals import (
    changes_for_review,
    locked_bucket_creations,
    plan_digest,
    review_text,
)


def approval_run_config(digest: str) -> dict:
    """The run config that launches `provision_lake` for the plan with this digest."""
    return {"ops": {"provision": {"config": {"plan_digest": digest}}}}


@sensor(
    jobs=[provision_lake, capacity_report_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="When config/lake.yaml changes (its SHA-256 differs from the last valid one "
    "seen): records the provisioning plan for review and refreshes the capacity report; "
    "applies the plan only with lake.auto_apply (local target).",
)
def lake_config_changed(  # noqa: ANN201
    context: SensorEvaluationContext, lake: LakeConfigResource, aws: AwsConnection
):
    in_force = lake.in_force(aws)
    if in_force.falls_back:
        return SkipReason(in_force.status_line())
    digest, document = in_force.sha256, in_force.document
    if digest == context.cursor:
        return SkipReason("config document unchanged")
    try:
        plan = plan_lake(document, aws.clients(document.lake.region))
    except ProvisioningRefused as exc:
        context.update_cursor(digest)
        context.log.error(str(exc))
        return SkipReason(f"no plan for {digest}: {exc}")
    first_seen = context.cursor is None
    context.update_cursor(digest)
    approved = plan_digest(plan, digest)
    auto = document.lake.applies_automatically(aws.aws_target().name)
    tags = {"ngs_lake/config_sha256": digest, "ngs_lake/plan_digest": approved}
    counts = plan.counts()
    recorded = AssetMaterialization(
        PROVISIONING_PLAN,
        description=f"{len(plan.mutations)} change(s) to review; plan digest {approved}",
        metadata={
            **{f"plan_{action}": n for action, n in counts.items()},
            "irreversible": len(locked_bucket_creations(plan)),
            "plan digest": approved,
            "config sha256": digest,
            "auto apply": auto,
            "changes": MetadataValue.md("```\n" + review_text(plan, approved, document) + "\n```"),
            "change list": MetadataValue.json([c.as_dict() for c in changes_for_review(plan)]),
        },
        tags={DATA_VERSION_TAG: approved},
    )
    # The observation gives `lake_config` its data version: the lineage's head moves with the file.
    observed = AssetObservation(
        LAKE_CONFIG,
        metadata={"path": in_force.path, "sha256": digest},
        tags={DATA_VERSION_TAG: digest},
    )
    requests = []
    if not first_seen:
        requests.append(RunRequest(job_name=capacity_report_job.name, tags=tags))
    if auto:  # today's local behaviour: every change launches provision_lake, no-ops included
        requests.insert(
            0,
            RunRequest(
                job_name=provision_lake.name, run_config=approval_run_config(approved), tags=tags
            ),
        )
    return SensorResult(run_requests=requests, asset_events=[observed, recorded])
