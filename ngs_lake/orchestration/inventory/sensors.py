"""The inventory reports as observed external assets, and the sensor that catalogues each new one.

S3 Inventory delivers a report per bucket (daily on AWS; a few minutes after each completed run
in the local stack) and writes its `manifest.checksum` last: a report counts once that checksum
is there and matches (ARCHITECTURE §3). The sensor looks at each bucket's newest complete report
(one listing of the report folders and two small GETs per bucket); a report it has not seen is
recorded as an observation of that bucket's report asset and requests one run that catalogues
every bucket and refreshes the capacity report. The cursor holds, per bucket, the manifest key and
its creation time, so a report rewritten within the same minute (same folder) still counts as new.

At most one such run is queued or running: reports that arrive meanwhile (a delivery spans many
buckets, and runs complete one after another) stay out of the cursor and are picked up by the next
tick after it, so a burst of reports costs one or two runs, not one per bucket, and the lifecycle
runs that share the instance's run slots are not held up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetObservation,
    AssetSpec,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.inventory.report import InventoryReportError, find_latest_report, report_root
from ngs_lake.orchestration.onboarding.assets import SEQUENCER_BUCKET, sequencer_partitions
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export its name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

CATALOGUE_GROUP = "catalogue"


INVENTORY_REPORT = AssetKey("inventory_report")


def inventory_report_spec(document: LakeConfig) -> AssetSpec:
    """Each sequencer bucket's S3 Inventory report, a partition per sequencer, downstream of its
    bucket's partition (the same partitions, so Dagster maps them one to one)."""
    inventory = document.lake.inventory
    return AssetSpec(
        INVENTORY_REPORT,
        deps=[SEQUENCER_BUCKET],
        partitions_def=sequencer_partitions(document),
        group_name=CATALOGUE_GROUP,
        description=f"S3 Inventory of each sequencer's bucket ({inventory.frequency}, "
        f"{inventory.format}), delivered to {inventory.bucket}; observed by the "
        "inventory_reports_arrived sensor.",
        kinds={"s3"},
    )


def newest_reports(aws: AwsConnection, document: LakeConfig) -> Iterator[tuple[str, str, dict]]:
    """(sequencer id, marker, metadata) for each bucket's newest complete report; a report that
    is rejected is a marker of its own, so the catalogue runs once and names it."""
    s3 = aws.clients(document.lake.region).s3()
    inventory = document.lake.inventory
    config_id = LakeNames.of(document).inventory_config_id
    for s in document.sequencers:
        root = report_root(inventory.prefix, document.bucket_name(s.id), config_id)
        try:
            found = find_latest_report(s3, inventory.bucket, root).report
        except InventoryReportError as exc:
            yield s.id, f"rejected {exc}", {"rejected": str(exc)}
            continue
        if found is None:
            continue
        created = found.manifest.created_at
        yield (
            s.id,
            f"{found.manifest_key}@{found.manifest.creation_timestamp}",
            {
                "manifest": f"s3://{inventory.bucket}/{found.manifest_key}",
                "created at": created.isoformat(timespec="seconds"),
                "data files": len(found.manifest.files),
            },
        )


IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def build_inventory_reports_sensor(interval: int, job: UnresolvedAssetJobDefinition):  # noqa: ANN201
    """The sensor, running `job`: the catalogue and the assets downstream of it (passed in: the
    catalogue domain does not import the capacity domain)."""

    @sensor(
        name="inventory_reports_arrived",
        job=job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        description="Catalogues each new S3 Inventory report (its manifest.checksum written "
        "last) and refreshes the capacity report.",
    )
    def inventory_reports_arrived(
        context: SensorEvaluationContext, aws: AwsConnection, lake: LakeConfigResource
    ) -> SensorResult | SkipReason:
        seen: dict[str, str] = json.loads(context.cursor or "{}")
        current = lake.load(aws)
        events = []
        fresh: dict[str, str] = {}
        for sequencer_id, marker, metadata in newest_reports(aws, current):
            if seen.get(sequencer_id) != marker:
                fresh[sequencer_id] = marker
                events.append(
                    AssetObservation(INVENTORY_REPORT, partition=sequencer_id, metadata=metadata)
                )
        if not fresh:
            return SkipReason("no new inventory report")
        busy = context.instance.get_runs(RunsFilter(job_name=job.name, statuses=IN_FLIGHT), limit=1)
        if busy:
            return SkipReason(
                f"{len(fresh)} new reports wait for the catalogue run {busy[0].run_id} to end"
            )
        seen |= fresh
        digest = hashlib.sha256(json.dumps(fresh, sort_keys=True).encode()).hexdigest()[:16]
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=f"inventory-{digest}",
                    job_name=job.name,
                    tags={"ngs_lake/new_reports": str(len(fresh))},
                )
            ],
            asset_events=events,
            cursor=json.dumps(seen, sort_keys=True),
        )

    return inventory_reports_arrived
