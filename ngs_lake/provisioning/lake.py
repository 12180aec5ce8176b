"""The whole lake's plan, in dependency order: key, lake buckets, tables and messaging, sequencer
buckets, then shares and their catalogue entries.
"""

from __future__ import annotations

import os

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.model import LakeConfig
from ngs_lake.provisioning.alerting import plan_operations_topic
from ngs_lake.provisioning.bucket_specs import lake_bucket_specs, sequencer_bucket_spec
from ngs_lake.provisioning.buckets import plan_bucket
from ngs_lake.provisioning.context import ProvisioningContext
from ngs_lake.provisioning.kms_key import plan_kms_key
from ngs_lake.provisioning.messaging import plan_consumer, plan_event_queues, plan_topic
from ngs_lake.provisioning.plan import Plan, Stage, run_concurrently
from ngs_lake.provisioning.policies import (
    PolicyTarget,
    all_policies,
    consumer_iam_policy,
    dagster_role_policies,
    gateway_role_iam_policy,
)
from ngs_lake.provisioning.policy_sizes import managed_policies
from ngs_lake.provisioning.shares import (
    catalogue_items,
    existing_shares,
    plan_retained,
    plan_sequencer_share,
    resolve_gateway_arns,
)
from ngs_lake.provisioning.tables import plan_run_log_migration, plan_table, table_specs


def plan_lake(config: LakeConfig, clients: AwsClients) -> Plan:
    """Read what exists and compare it with the document. Makes no mutating call."""
    ctx = ProvisioningContext.build(config, clients)
    gateway_arns = resolve_gateway_arns(ctx)  # fails fast, before any other read
    catalogued = catalogue_items(ctx)
    shares = existing_shares(
        ctx, set(gateway_arns.values()) | {i["gateway_arn"] for i in catalogued.values()}
    )
    specs = [sequencer_bucket_spec(config, s) for s in config.sequencers]
    plan = Plan(
        stages=[
            Stage("KMS key", [plan_kms_key(ctx)]),
            Stage(
                "Lake buckets",
                run_concurrently(
                    lambda spec: plan_bucket(ctx, spec), lake_bucket_specs(config, ctx.account)
                ),
            ),
            Stage(
                "Ledger tables and event plumbing",
                run_concurrently(
                    lambda task: task(),
                    [
                        *(
                            (lambda spec=spec: plan_table(ctx, spec))
                            for spec in table_specs(ctx.names, config.lake.events_ttl_days)
                        ),
                        lambda: plan_event_queues(ctx, gateway_arns),
                        lambda: plan_topic(ctx),
                        lambda: plan_operations_topic(ctx),
                    ],
                ),
            ),
            Stage(
                "Consumers",
                run_concurrently(lambda consumer: plan_consumer(ctx, consumer), config.consumers),
            ),
            Stage(
                "Sequencer buckets",
                run_concurrently(lambda spec: plan_bucket(ctx, spec), specs),
            ),
            Stage(
                "Shares and catalogue",
                [
                    plan_sequencer_share(ctx, s, gateway_arns, shares, catalogued.get(s.id))
                    for s in config.sequencers
                ],
            ),
        ]
    )
    migration = plan_run_log_migration(ctx)
    if migration:  # after the tables stage, which creates the run log
        plan.stages.insert(3, Stage("Run log migration", [migration]))
    retained = plan_retained(ctx, catalogued)
    if retained:
        plan.stages.append(Stage("Retained", [retained]))
    key = ctx.key_arn_or_placeholder()
    # The Dagster instance's compute-log bucket is the deployment's (deploy/), not the lake's.
    target = PolicyTarget.of(ctx, os.environ.get("NGS_LAKE_COMPUTE_LOG_BUCKET"))
    identities = {
        f"gateway role {config.lake.gateway_role_arn}": gateway_role_iam_policy(config, key),
        **{
            f"consumer {c.name} ({c.principal})": consumer_iam_policy(config, c, key)
            for c in config.consumers
        },
    }
    plan.iam_policies = {  # each a managed policy that fits IAM's limit (policy_sizes.py)
        **{k: v for n, d in identities.items() for k, v in managed_policies(n, d).items()},
        **dagster_role_policies(config, target),
    }
    plan.all_policies = all_policies(config, target)
    return plan
