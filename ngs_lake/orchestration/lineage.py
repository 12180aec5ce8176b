"""The lake as one lineage graph, from the config document to the capacity report:

    lake_config -> provisioning_plan -> provisioned_lake -> sequencer_bucket -> sequencing_run
                                       sequencing_run -> run_manifest
                     sequencer_bucket, sequencing_run -> fixity_audit
                                       sequencer_bucket -> run_ledger -> runs_in_flight
                                       sequencer_bucket -> inventory_report    |
                                           -> inventory_catalog -> capacity_report <- lake_config

`sequencer_bucket` and `inventory_report` are partitioned by sequencer id, so the graph has the
same 12 nodes whatever the number of sequencers. Their partitions come from the document, so the
executable assets' dependencies on them are added here (`map_asset_specs`), where the document
is known, rather than in their decorators.
"""

from __future__ import annotations

from dagster import AssetKey, AssetsDefinition, AssetSpec

from ngs_lake.config.model import LakeConfig
from ngs_lake.orchestration.capacity.assets import RUN_LEDGER, capacity_report
from ngs_lake.orchestration.fixity.assets import fixity_audit
from ngs_lake.orchestration.inventory.assets import inventory_catalog
from ngs_lake.orchestration.inventory.sensors import inventory_report_spec
from ngs_lake.orchestration.onboarding.assets import (
    LAKE_GROUP,
    lake_config,
    provisioned_lake,
    provisioning_plan,
    sequencer_bucket_spec,
)
from ngs_lake.orchestration.sequencing.assets import run_manifest, sequencing_run
from ngs_lake.orchestration.sequencing.in_flight import runs_in_flight


def _with_deps(asset: AssetsDefinition, keys: list[AssetKey]) -> AssetsDefinition:
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(deps=[*spec.deps, *keys]))


def lake_assets(document: LakeConfig) -> list:
    """Every asset of the lake, connected."""
    bucket = sequencer_bucket_spec(document)
    report = inventory_report_spec(document)
    ledger = AssetSpec(
        RUN_LEDGER,
        deps=[bucket.key],
        group_name=LAKE_GROUP,
        description="The run ledger (DynamoDB): every upload event from the buckets, each run's "
        "state and files; the capacity report reads each sequencer's observed rate from it.",
        kinds={"dynamodb"},
    )
    return [
        lake_config,
        provisioning_plan,
        provisioned_lake,
        bucket,
        ledger,
        _with_deps(sequencing_run, [bucket.key]),
        run_manifest,
        runs_in_flight.replace_attributes(deps=[RUN_LEDGER]),
        report,
        _with_deps(inventory_catalog, [report.key]),
        capacity_report,
        # The audit reads the fixity records verification wrote, and the buckets' objects.
        _with_deps(fixity_audit, [bucket.key, sequencing_run.key]),
    ]
