"""The Dagster code location loads, also with a broken document; its provisioning job and sensor
work on a real instance."""

import hashlib
import subprocess
import sys

import dagster as dg
import pytest

from ngs_lake.config.document import load_lake_config
from ngs_lake.config.model import LakeConfigError
from ngs_lake.definitions import defs
from ngs_lake.orchestration.onboarding.jobs import provision_lake
from ngs_lake.orchestration.onboarding.sensors import approval_run_config, lake_config_changed
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.provisioning import plan_lake
from ngs_lake.provisioning.approvals import plan_digest
from ngs_lake_tests.conftest import (
    REPO,
    SMALL_CONFIG,
    dagster_resources,
    edited_config,
    lake_clients,
)


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
    defs = _definitions()
    assert defs.resolve_job_def("provision_lake").name == "provision_lake"
    sensor = defs.resolve_sensor_def("lake_config_changed")
    assert sorted(t.job_name for t in sensor.targets) == ["capacity_report_job", "provision_lake"]
    for name, job in (
        ("inventory_catalog_daily", "inventory_catalog_job"),
        ("capacity_report_daily", "capacity_report_job"),
    ):
        schedule = defs.resolve_schedule_def(name)
        assert (schedule.job_name, schedule.execution_timezone) == (job, "UTC")


def _approved(moto, gateway) -> dict:
    """The run config approving the plan as it stands now."""
    plan = plan_lake(load_lake_config(SMALL_CONFIG), lake_clients(moto, gateway))
    return approval_run_config(
        plan_digest(plan, hashlib.sha256(SMALL_CONFIG.read_bytes()).hexdigest())
    )


def test_provision_lake_job_provisions_then_finds_nothing_to_do(moto, start_gateway):
    gateway = start_gateway(SMALL_CONFIG)
    resources = dagster_resources(moto.endpoint, gateway.endpoint, SMALL_CONFIG)
    instance = dg.DagsterInstance.ephemeral()
    unapproved = provision_lake.execute_in_process(
        resources=resources, instance=instance, raise_on_error=False
    )
    assert not unapproved.success  # no digest, no apply
    assert moto.client("s3").list_buckets()["Buckets"] == []
    first = provision_lake.execute_in_process(
        resources=resources, instance=instance, run_config=_approved(moto, gateway)
    )
    assert first.success
    output = _output_metadata(first)
    assert output["plan_create"] > 50
    assert output["applied"] == output["plan_create"] + output["plan_update"]
    moto.client("s3").head_bucket(Bucket="small-lake-prm-mad-01")
    # The applied plan is a materialization of `provisioned_lake`, tagged with the document.
    (provisioned,) = first.asset_materializations_for_node("provision")
    assert provisioned.asset_key == dg.AssetKey("provisioned_lake")
    assert provisioned.metadata["changes applied"].value == output["applied"]
    digest = hashlib.sha256(SMALL_CONFIG.read_bytes()).hexdigest()
    assert provisioned.metadata["config sha256"].value == digest

    second = provision_lake.execute_in_process(
        resources=resources, instance=instance, run_config=_approved(moto, gateway)
    )
    again = _output_metadata(second)
    assert again["applied"] == 0
    assert again["plan_create"] == again["plan_update"] == again["plan_move"] == 0


def _output_metadata(result):
    (event,) = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def _definitions() -> dg.Definitions:
    return defs()


def test_an_invalid_document_with_no_record_loads_provision_lake_and_reports_its_problems(
    tmp_path, monkeypatch, local_env
):
    def unknown_platform(document):
        document["sequencers"][0]["platform"] = "hiseq-2500"

    path = edited_config(tmp_path, SMALL_CONFIG, unknown_platform, "lake.yaml")
    monkeypatch.setenv("NGS_LAKE_CONFIG", str(path))
    loaded = defs()
    assert loaded.resolve_job_def("provision_lake").name == "provision_lake"
    repository = loaded.get_repository_def()
    assert [s.name for s in repository.sensor_defs] == ["storage_gateway_events"]
    sensor = loaded.resolve_sensor_def("storage_gateway_events")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            resources={"lake": LakeConfigResource(path=str(path)), "aws": AwsConnection()},
        )
        with pytest.raises(LakeConfigError) as error:
            sensor(context)
    assert "sequencers[NVX-MAD-01].platform" in str(error.value), str(error.value)
    assert "cannot read s3://small-lake-catalog/lake-config/in-force.json" in str(error.value)


def _evaluate(instance, resources, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return context, lake_config_changed(context)


def test_config_change_sensor_auto_applies_every_change_locally_reverts_included(
    tmp_path, moto, start_gateway
):
    path = edited_config(tmp_path, SMALL_CONFIG, lambda d: None, "lake.yaml")
    gateway = start_gateway(path)
    lake = dagster_resources(moto.endpoint, gateway.endpoint, path)  # the local target
    a = path.read_text()
    b = a.replace("settling_time_seconds: 5", "settling_time_seconds: 9")
    assert a != b
    with dg.instance_for_test() as instance:
        context, result = _evaluate(instance, lake, None)
        # First sight provisions only: the capacity report comes with the first catalogue.
        (first,) = result.run_requests
        assert first.job_name == "provision_lake"
        observed, _plan = result.asset_events  # lake_config's data version: the document's digest
        assert observed.asset_key == dg.AssetKey("lake_config")
        assert (
            observed.tags["dagster/data_version"] == hashlib.sha256(path.read_bytes()).hexdigest()
        )
        context, result = _evaluate(instance, lake, context.cursor)
        assert isinstance(result, dg.SkipReason)
        for content in (b, a):  # A -> B -> back to A: each change provisions
            path.write_text(content)
            context, result = _evaluate(instance, lake, context.cursor)
            provision, capacity = result.run_requests  # nothing is provisioned yet
            assert (provision.job_name, capacity.job_name) == (
                "provision_lake",
                "capacity_report_job",
            )
            approved = result.asset_events[1].metadata["plan digest"].value
            assert provision.run_config == approval_run_config(approved)
            # No run key: Dagster would skip a key it has seen, and so the revert to A.
            assert provision.run_key is None
