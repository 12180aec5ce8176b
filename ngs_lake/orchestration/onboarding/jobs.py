"""`provision_lake`: the same plan-then-apply as `ngs-lake provision`, as a Dagster job.

An applied plan is recorded as a materialization of the `provisioned_lake` asset, tagged with the
document's SHA-256, so the lineage shows which document the lake was last provisioned from.
"""

from pathlib import Path

from dagster import (
    AssetMaterialization,
    Config,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)

from ngs_lake.orchestration.onboarding.assets import PROVISIONED_LAKE, config_digest
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.provisioning import apply_plan, plan_lake


class ProvisionConfig(Config):
    apply: bool = True


@op(description="Plan the lake from the config document against AWS, then apply the plan.")
def provision(
    context: OpExecutionContext,
    config: ProvisionConfig,
    lake: LakeConfigResource,
    aws: AwsConnection,
) -> None:
    document = lake.load()
    plan = plan_lake(document, aws.clients(document.lake.region))
    context.log.info(plan.render(show_policies=False))
    applied = apply_plan(plan) if config.apply else []
    if config.apply:
        counts = plan.counts()
        context.log_event(
            AssetMaterialization(
                PROVISIONED_LAKE,
                description=f"{len(applied)} changes applied",
                metadata={
                    "changes applied": len(applied),
                    "resources unchanged": counts.get("no-op", 0),
                    "sequencers": len(document.sequencers),
                    "config sha256": config_digest(Path(lake.resolved_path())),
                },
            )
        )
    context.add_output_metadata(
        {
            **{f"plan_{action}": n for action, n in plan.counts().items()},
            "applied": len(applied),
            "config": lake.resolved_path(),
            "plan": MetadataValue.md(f"```\n{plan.render(show_policies=False)}\n```"),
        }
    )


@job(executor_def=in_process_executor, description="Provision the lake from config/lake.yaml.")
def provision_lake() -> None:
    provision()
