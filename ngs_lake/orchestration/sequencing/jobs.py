"""`complete_run` and `refresh_manifest`: the run's assets as jobs.

Announcements have no job: the events sensor publishes them in its tick (runs.announce_pass).
`complete_run` verifies only the runs the sensor's tick could not (runs.verify_pass).
"""

from dagster import define_asset_job, in_process_executor

complete_run = define_asset_job(
    "complete_run",
    selection=["sequencing_run"],
    executor_def=in_process_executor,
    tags={"ngs_lake/kind": "lifecycle"},
    description="Verify a confirmed run too large for the sensor's tick; complete it or record "
    "it incomplete.",
)


refresh_manifest = define_asset_job(
    "refresh_manifest",
    selection=["run_manifest"],
    executor_def=in_process_executor,
    tags={"ngs_lake/kind": "lifecycle"},
    description="Write a run's manifest again (after late files amended it).",
)
