"""`provision_lake`: the same plan-then-apply as `ngs-lake provision --apply`, as a Dagster job.

It applies only the plan a person reviewed: its run config names the plan's digest (the
`provisioning_plan` materialization shows it), and a plan that no longer has that digest is
refused, naming both. Each apply is recorded (digest, time, who) in the catalogue bucket, and as
a materialization of the `provisioned_lake` asset, tagged with the document's SHA-256.
"""

from datetime import UTC, datetime

from dagster import (
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)
from dagster._core.storage.tags import USER_TAG
from pydantic import Field

from ngs_lake.orchestration.onboarding.assets import PROVISIONED_LAKE
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.provisioning.approvals import (
    ApplyHistory,
    ApplyRecord,
    StalePlan,
    caller_arn,
    check_approval,
    plan_digest,
    utc_stamp,
)


class ProvisionConfig(Config):
    apply: bool = True
    plan_digest: str = Field(
        default="",
        description="The digest of the plan you reviewed (the latest provisioning_plan "
        "materialization's `plan digest`); the run is refused unless the plan still has it.",
    )


@op(description="Plan the lake from the document in force; apply it if its digest is approved.")
def provision(
    context: OpExecutionContext,
    config: ProvisionConfig,
    lake: LakeConfigResource,
    aws: AwsConnection,
) -> None:
    in_force = lake.in_force(aws)
    document = in_force.document
    clients = aws.clients(document.lake.region)
    plan = plan_lake(document, clients)
    digest = plan_digest(plan, in_force.sha256)
    context.log.info(f"{plan.render(show_policies=False)}\nplan digest: {digest}")
    applied = []
    if config.apply:
        try:
            check_approval(config.plan_digest, digest)
        except StalePlan as exc:
            metadata = {"approved": exc.approved, "current": digest}
            raise Failure(str(exc), metadata=metadata) from None
        applied = apply_plan(plan)
        who = context.run.tags.get(USER_TAG) or caller_arn(clients.sts())
        ApplyHistory(clients.s3(), document.lake.catalog_bucket).record(
            ApplyRecord(
                digest,
                in_force.sha256,
                utc_stamp(datetime.now(UTC)),
                who,
                f"dagster run {context.run_id}",
                len(applied),
            )
        )
        context.log_event(
            AssetMaterialization(
                PROVISIONED_LAKE,
                description=f"{len(applied)} changes applied",
                metadata={
                    "changes applied": len(applied),
                    "resources unchanged": plan.counts().get("no-op", 0),
                    "sequencers": len(document.sequencers),
                    "config sha256": in_force.sha256,
                    "plan digest": digest,
                    "applied by": who,
                },
            )
        )
    context.add_output_metadata(
        {
            **{f"plan_{action}": n for action, n in plan.counts().items()},
            "applied": len(applied),
            "config": lake.resolved_path(),
            "plan digest": digest,
            "plan": MetadataValue.md(f"```\n{plan.render(show_policies=False)}\n```"),
        }
    )


@job(
    executor_def=in_process_executor,
    description="Apply the reviewed plan: launch with `ops: {provision: {config: {plan_digest: "
    "<the provisioning_plan's digest>}}}`.",
)
def provision_lake() -> None:
    provision()
