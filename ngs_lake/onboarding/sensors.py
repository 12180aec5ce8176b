"""Run `provision_lake`, and refresh the capacity report, whenever the config document's
content changes."""

import hashlib
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from ngs_lake.capacity.assets import capacity_report_job
from ngs_lake.onboarding.jobs import provision_lake
from ngs_lake.resources import LakeConfigResource


@sensor(
    jobs=[provision_lake, capacity_report_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Provisions the lake and refreshes the capacity report when config/lake.yaml "
    "changes (keyed by its SHA-256).",
)
def lake_config_changed(context: SensorEvaluationContext, lake: LakeConfigResource):  # noqa: ANN201
    path = Path(lake.resolved_path())
    if not path.is_file():
        return SkipReason(f"config document {path} not found")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest == context.cursor:
        return SkipReason("config document unchanged")
    context.update_cursor(digest)
    tags = {"ngs_lake/config_sha256": digest}
    return [
        RunRequest(run_key=f"config-{digest[:16]}", job_name=provision_lake.name, tags=tags),
        RunRequest(run_key=f"capacity-{digest[:16]}", job_name=capacity_report_job.name, tags=tags),
    ]
