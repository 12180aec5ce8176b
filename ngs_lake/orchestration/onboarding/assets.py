"""The head of the lake's lineage: the config document, the lake provisioned from it, and one
S3 bucket per sequencer.

The document is an observable source asset: its SHA-256 is its data version, observed by the
`lake_config_changed` sensor (or the UI's "Observe"), so a provisioning run can be traced to the
document it applied. The plan, the provisioned lake and the buckets are external assets: the
sensor records each new document's plan as a materialization of `provisioning_plan` (what a
person reviews, with its digest), `provision_lake` records one of `provisioned_lake` after each
apply, and the buckets are filled by the gateways, not by Dagster. The buckets are one asset
partitioned by sequencer (the partitions come from the document, so a new sequencer's bucket
joins when the code location reloads): one node per sequencer made the lineage at the default
config (25 sequencers) about 80 nodes, too many to read.
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
    StaticPartitionsDefinition,
    TableColumn,
    TableRecord,
    TableSchema,
    observable_source_asset,
)

from ngs_lake.config.model import LakeConfig

LAKE_GROUP = "lake"
LAKE_CONFIG = AssetKey("lake_config")
PROVISIONING_PLAN = AssetKey("provisioning_plan")
PROVISIONED_LAKE = AssetKey("provisioned_lake")


def config_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SEQUENCER_BUCKET = AssetKey("sequencer_bucket")


def sequencer_partitions(document: LakeConfig) -> StaticPartitionsDefinition:
    """One partition per sequencer id, for the assets that exist once per sequencer."""
    return StaticPartitionsDefinition(sorted(s.id for s in document.sequencers))


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


def sequencer_bucket_spec(document: LakeConfig) -> AssetSpec:
    """The sequencers' WORM buckets, one partition each, downstream of the provisioned lake; the
    table names each partition's bucket, site, gateway and platform."""
    rows = [
        TableRecord(
            {
                "sequencer": s.id,
                "bucket": document.bucket_name(s.id),
                "site": document.gateway(s.gateway).site,
                "gateway": s.gateway,
                "platform": s.platform,
            }
        )
        for s in sorted(document.sequencers, key=lambda s: s.id)
    ]
    columns = ["sequencer", "bucket", "site", "gateway", "platform"]
    return AssetSpec(
        SEQUENCER_BUCKET,
        deps=[PROVISIONED_LAKE],
        partitions_def=sequencer_partitions(document),
        group_name=LAKE_GROUP,
        description="Each sequencer's WORM bucket (a partition per sequencer): its gateway "
        "uploads the sequencer's share there.",
        metadata={
            "buckets": MetadataValue.table(
                rows, schema=TableSchema([TableColumn(c, "string") for c in columns])
            ),
            "sequencers": len(rows),
        },
        kinds={"s3"},
    )
