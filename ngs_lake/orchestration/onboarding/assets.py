"""The head of the lake's lineage: the config document, the lake provisioned from it, and one
S3 bucket per sequencer.

The document is an observable source asset: its SHA-256 is its data version, observed by the
`lake_config_changed` sensor (or the UI's "Observe"), so a provisioning run can be traced to the
document it applied. The plan, the provisioned lake and the buckets are external assets: the
sensor records each new document's plan as a materialization of `provisioning_plan` (what a
person reviews, with its digest), `provision_lake` records one of `provisioned_lake` after each
apply, and the buckets are filled by
the gateways, not by Dagster. Their specs come from the document, so a new sequencer's bucket
joins the graph when the code location reloads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSpec,
    DataVersion,
    MetadataValue,
    ObserveResult,
    observable_source_asset,
)

from ngs_lake.config.model import LakeConfig

LAKE_GROUP = "lake"
LAKE_CONFIG = AssetKey("lake_config")
PROVISIONING_PLAN = AssetKey("provisioning_plan")
PROVISIONED_LAKE = AssetKey("provisioned_lake")


def config_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bucket_key(sequencer_id: str) -> AssetKey:
    return AssetKey(["sequencer_bucket", sequencer_id])


@observable_source_asset(
    key=LAKE_CONFIG,
    group_name=LAKE_GROUP,
    required_resource_keys={"lake"},
    description="config/lake.yaml: sites, gateways, sequencers and the lake's settings. Its "
    "data version is the document's SHA-256.",
)
def lake_config(context) -> ObserveResult:  # noqa: ANN001 (Dagster's observe context)
    path = Path(context.resources.lake.resolved_path())
    digest = config_digest(path)
    return ObserveResult(
        data_version=DataVersion(digest),
        metadata={"path": str(path), "sha256": digest},
    )


provisioning_plan = AssetSpec(
    PROVISIONING_PLAN,
    deps=[LAKE_CONFIG],
    group_name=LAKE_GROUP,
    description="What applying the document would change, as `lake_config_changed` computed "
    "it: counts, every change (irreversible first) and the plan digest that `provision_lake` "
    "must be launched with (run config `ops: provision: config: plan_digest`).",
)

provisioned_lake = AssetSpec(
    PROVISIONED_LAKE,
    deps=[PROVISIONING_PLAN],
    group_name=LAKE_GROUP,
    description="Every AWS resource the document describes (buckets, queues, topic, tables, "
    "KMS key, gateway shares), as the last `provision_lake` run applied them.",
)


def sequencer_bucket_specs(document: LakeConfig) -> list[AssetSpec]:
    """One external asset per sequencer's WORM bucket, downstream of the provisioned lake."""
    return [
        AssetSpec(
            bucket_key(s.id),
            deps=[PROVISIONED_LAKE],
            group_name=LAKE_GROUP,
            description=f"{s.id}'s WORM bucket: the gateway {s.gateway} uploads its share here.",
            metadata={
                "bucket": document.bucket_name(s.id),
                "site": document.gateway(s.gateway).site,
                "gateway": s.gateway,
                "platform": s.platform,
                "location": MetadataValue.path(f"s3://{document.bucket_name(s.id)}/"),
            },
            kinds={"s3"},
        )
        for s in document.sequencers
    ]
