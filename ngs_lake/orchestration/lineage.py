"""The lake as one lineage graph, from the config document to the capacity report:

    lake_config -> provisioning_plan -> provisioned_lake -> sequencer_bucket/<id>
                                       sequencer_bucket/<id> -> sequencing_run -> run_manifest
                                       sequencer_bucket/<id> -> run_ledger ----------+
                                       sequencer_bucket/<id> -> inventory_report/<id> |
                                           -> inventory_catalog -> capacity_report <-+- lake_config

The per-sequencer assets come from the document, so the executable assets' dependencies on them
are added here (`map_asset_specs`), where the document is known, rather than in their decorators.
"""

from __future__ import annotations

from dagster import AssetKey, AssetsDefinition, AssetSpec

from ngs_lake.config.model import LakeConfig
from ngs_lake.orchestration.capacity.assets import RUN_LEDGER, capacity_report
from ngs_lake.orchestration.inventory.assets import inventory_catalog
from ngs_lake.orchestration.inventory.sensors import inventory_report_specs
from ngs_lake.orchestration.onboarding.assets import (
    LAKE_GROUP,
    lake_config,
    provisioned_lake,
    provisioning_plan,
    sequencer_bucket_specs,
)
from ngs_lake.orchestration.sequencing.assets import run_manifest, sequencing_run


def _with_deps(asset: AssetsDefinition, keys: list[AssetKey]) -> AssetsDefinition:
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(deps=[*spec.deps, *keys]))


def lake_assets(document: LakeConfig) -> list:
    """Every asset of the lake, connected."""
    buckets = sequencer_bucket_specs(document)
    bucket_keys = [b.key for b in buckets]
    reports = inventory_report_specs(document)
    ledger = AssetSpec(
        RUN_LEDGER,
        deps=bucket_keys,
        group_name=LAKE_GROUP,
        description="The run ledger (DynamoDB): every upload event from the buckets, each run's "
        "state and files; the capacity report reads each sequencer's observed rate from it.",
        kinds={"dynamodb"},
    )
    return [
        lake_config,
        provisioning_plan,
        provisioned_lake,
        *buckets,
        ledger,
        _with_deps(sequencing_run, bucket_keys),
        run_manifest,
        *reports,
        _with_deps(inventory_catalog, [r.key for r in reports]),
        capacity_report,
    ]
