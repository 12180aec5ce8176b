"""The Dagster code location loads; its provisioning job and sensor work on a real instance."""

import subprocess
import sys

import dagster as dg

from ngs_lake.definitions import defs
from ngs_lake.onboarding.jobs import provision_lake
from ngs_lake.onboarding.sensors import lake_config_changed
from ngs_lake.resources import LakeConfigResource
from ngs_lake_tests.conftest import REPO, SMALL_CONFIG, dagster_resources, edited_config


def test_dagster_definitions_validate():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_one_definitions_object_holds_the_jobs_sensors_and_schedules():
    assert defs.resolve_job_def("provision_lake").name == "provision_lake"
    sensor = defs.resolve_sensor_def("lake_config_changed")
    assert sorted(t.job_name for t in sensor.targets) == ["capacity_report_job", "provision_lake"]
    for name, job in (
        ("inventory_catalog_daily", "inventory_catalog_job"),
        ("capacity_report_daily", "capacity_report_job"),
    ):
        schedule = defs.resolve_schedule_def(name)
        assert (schedule.job_name, schedule.execution_timezone) == (job, "UTC")


def test_provision_lake_job_provisions_then_finds_nothing_to_do(moto, start_gateway):
    gateway = start_gateway(SMALL_CONFIG)
    resources = dagster_resources(moto.endpoint, gateway.endpoint, SMALL_CONFIG)
    instance = dg.DagsterInstance.ephemeral()
    first = provision_lake.execute_in_process(resources=resources, instance=instance)
    assert first.success
    output = _output_metadata(first)
    assert output["plan_create"] > 50
    assert output["applied"] == output["plan_create"] + output["plan_update"]
    moto.client("s3").head_bucket(Bucket="small-lake-prm-mad-01")

    second = provision_lake.execute_in_process(resources=resources, instance=instance)
    again = _output_metadata(second)
    assert again["applied"] == 0
    assert again["plan_create"] == again["plan_update"] == again["plan_move"] == 0


def _output_metadata(result):
    (event,) = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def test_config_change_sensor_requests_one_run_per_content(tmp_path):
    path = edited_config(tmp_path, SMALL_CONFIG, lambda d: None, "lake.yaml")
    lake = LakeConfigResource(path=str(path))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"lake": lake})
        first, capacity = lake_config_changed(context)
        assert (first.job_name, capacity.job_name) == ("provision_lake", "capacity_report_job")
        context = dg.build_sensor_context(
            instance=instance, cursor=context.cursor, resources={"lake": lake}
        )
        assert isinstance(lake_config_changed(context), dg.SkipReason)
        path.write_text(
            path.read_text().replace("settling_time_seconds: 5", "settling_time_seconds: 9")
        )
        context = dg.build_sensor_context(
            instance=instance, cursor=context.cursor, resources={"lake": lake}
        )
        changed, _ = lake_config_changed(context)
        assert changed.job_name == "provision_lake"
        assert changed.run_key != first.run_key
