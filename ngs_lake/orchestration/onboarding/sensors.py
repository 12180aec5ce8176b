"""Run `provision_lake`, and refresh the capacity report, whenever the config document's
content changes. The first tick (no cursor) provisions only: the capacity report of the document
first seen comes with the first inventory catalogue (`catalogue_refresh_job`) and the daily
schedule, so start-up materializes it once, not once per trigger.

The cursor alone detects a change (the last content's SHA-256). The requests carry no run key:
Dagster never runs a key twice, so a digest key would ignore a revert from B back to A, and A
would never be provisioned again.
"""

from pathlib import Path

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from ngs_lake.orchestration.capacity.assets import capacity_report_job
from ngs_lake.orchestration.onboarding.assets import LAKE_CONFIG, config_digest
from ngs_lake.orchestration.onboarding.jobs import provision_lake
from ngs_lake.orchestration.resources import LakeConfigResource


@sensor(
    jobs=[provision_lake, capacity_report_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Provisions the lake and refreshes the capacity report when config/lake.yaml "
    "changes (its SHA-256 differs from the last one seen).",
)
def lake_config_changed(context: SensorEvaluationContext, lake: LakeConfigResource):  # noqa: ANN201
    path = Path(lake.resolved_path())
    if not path.is_file():
        return SkipReason(f"config document {path} not found")
    digest = config_digest(path)
    if digest == context.cursor:
        return SkipReason("config document unchanged")
    first_seen = context.cursor is None
    context.update_cursor(digest)
    tags = {"ngs_lake/config_sha256": digest}
    # The observation gives `lake_config` its data version: the lineage's head moves with the file.
    observed = AssetObservation(
        LAKE_CONFIG,
        metadata={"path": str(path), "sha256": digest},
        tags={DATA_VERSION_TAG: digest},
    )
    requests = [RunRequest(job_name=provision_lake.name, tags=tags)]
    if not first_seen:
        requests.append(RunRequest(job_name=capacity_report_job.name, tags=tags))
    return SensorResult(run_requests=requests, asset_events=[observed])
