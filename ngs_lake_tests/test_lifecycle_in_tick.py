"""Lifecycle steps in the events sensor's tick (issue #25): a small run is verified and
announced by the tick itself and its partition reported through the sensor's asset events; a
report the daemon lost is made again; a run over the tick's verification budget is verified by a
`complete_run` Dagster run instead, and its partition shows the same metadata.

Against the moto server and the gateway process; `Driver` plays the daemon on a test instance.
"""

import json

import dagster as dg
import yaml

from ngs_lake.runs.model import RunState
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.test_completion import Driver

SEQUENCING_RUN = dg.AssetKey("sequencing_run")
# What the UI shows for a completed MiSeq run, however it was verified.
METADATA = {
    "expected_files",
    "files",
    "flowcell",
    "marker_to_completion_seconds",
    "platform",
    "projects",  # issue #31: the sample sheet's
    "run_application",
    "run_application_version",
    "run_chemistry",
    "run_cycles",
    "run_experiment_name",
    "run_flowcell",
    "run_geometry",
    "run_instrument",
    "run_lanes",
    "run_rta_version",
    "run_run_date",
    "run_run_id",
    "run_run_number",
    "run_surfaces",
    "run_tiles",
    "s3_prefix",
    "samples",
    "samplesheet",
    "sequencing_seconds",
    "site",
    "size",
    "upload_lag_seconds",
}
CHECKS = ("file_count_matches_geometry", "no_object_missing")


def _tiny_miseq(lake, seed: int) -> tuple[str, object]:
    (run,) = plan_simulation(
        RunSpec(
            platform="miseq", scenario="tiny", duration_seconds=1, seed=seed, max_file_bytes=256
        )
    )
    simulate([run], lake.share_folder("MIS-MAD-01"), seed=seed)
    return f"MIS-MAD-01/{run.run_folder}", run


def _completed(lake, run_key: str):
    return lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.COMPLETED


def _materialization(instance, run_key: str):
    (record,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SEQUENCING_RUN, asset_partitions=[run_key]), limit=5
    ).records
    return record.event_log_entry


def _checks_passed(instance, run_key: str) -> list[bool]:
    passed = []
    for name in CHECKS:
        history = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(SEQUENCING_RUN, name), limit=50
        )
        passed += [h.status.value == "SUCCEEDED" for h in history if h.partition == run_key]
    return passed


def test_a_small_run_is_verified_and_announced_by_the_tick_and_a_lost_report_made_again(lake):
    run_key, run = _tiny_miseq(lake, 41)
    with dg.instance_for_test() as instance:
        Driver(lake, instance).until(_completed(lake, run_key), what="COMPLETED")
        assert instance.get_runs() == []  # not one Dagster run: announced and verified in ticks
        entry = _materialization(instance, run_key)
        assert entry.run_id == ""  # reported by the sensor
        metadata = entry.asset_materialization.metadata
        assert set(metadata) == METADATA | {"reported_by"}
        assert metadata["reported_by"].value == "events sensor tick"
        assert metadata["files"].value == len(run.files)
        assert metadata["flowcell"].value == run.metadata["flowcell"]
        assert _checks_passed(instance, run_key) == [True, True]
    # The daemon died after the tick returned and before it stored the events: an instance
    # that never got them. The next tick reports the partition again, once.
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance)
        driver.tick()
        driver.tick()
        again = _materialization(instance, run_key)
        assert set(again.asset_materialization.metadata) == METADATA | {"reported_by"}
        assert again.asset_materialization.metadata["files"].value == len(run.files)
        assert _checks_passed(instance, run_key) == [True, True]
    messages = [json.loads(m["Body"]) for m in lake.consumer_messages("lims")]
    mine = [m["event_type"] for m in messages if m["run"]["run_key"] == run_key]
    assert mine == ["run.started", "run.copy_complete", "run.completed"]


def test_a_run_over_the_tick_budget_is_verified_by_a_complete_run(lake, tmp_path):
    document = yaml.safe_load(lake.config_path.read_text())
    document["lake"]["tick_verify_seconds"] = "0.000001s"  # no listing fits
    config_path = tmp_path / "lake.yaml"
    config_path.write_text(yaml.safe_dump(document, sort_keys=False))
    run_key, run = _tiny_miseq(lake, 42)
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance, config_path)
        driver.until(_completed(lake, run_key), what="COMPLETED")
        driver.tick()  # publishes run.completed if the run left it
        (verifying,) = instance.get_runs()
        assert (verifying.job_name, verifying.status) == (
            "complete_run",
            dg.DagsterRunStatus.SUCCESS,
        )
        entry = _materialization(instance, run_key)
        assert entry.run_id == verifying.run_id
        assert set(entry.asset_materialization.metadata) == METADATA
        assert entry.asset_materialization.metadata["files"].value == len(run.files)
        assert _checks_passed(instance, run_key) == [True, True]
    messages = [json.loads(m["Body"]) for m in lake.consumer_messages("lims")]
    mine = [m["event_type"] for m in messages if m["run"]["run_key"] == run_key]
    assert mine == ["run.started", "run.copy_complete", "run.completed"]
