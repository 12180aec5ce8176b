"""Change control for provisioning, on a provisioned lake (moto and the software gateway): a
saved change is planned and recorded as a `provisioning_plan` materialization, nothing is
created until the plan's digest is approved, a stale digest is refused naming both, and each
apply is in the history.

The sensor runs on a real Dagster instance with the `aws` target pointed at moto, which only
reads; the applies run on the `local` target, because on `aws` the buckets get policy Denies
with Conditions that moto enforces without them (ARCHITECTURE §9).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml
from botocore.exceptions import ClientError

from ngs_lake.config.document import load_lake_config, parse_lake_document
from ngs_lake.config.model import LakeConfigError
from ngs_lake.orchestration.onboarding.jobs import provision_lake
from ngs_lake.orchestration.onboarding.sensors import approval_run_config, lake_config_changed
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.provisioning import plan_lake
from ngs_lake.provisioning.approvals import plan_digest
from ngs_lake.provisioning.plan import Action, Change, Plan, Stage
from ngs_lake_tests.conftest import (
    SMALL_CONFIG,
    dagster_resources,
    edited_config,
)
from ngs_lake_tests.lake_fixtures import Lake, module_lake

NEW_SEQUENCER = "MIS-MAD-02"
NEW_BUCKET = "small-lake-mis-mad-02"
DIGEST = re.compile(r"\b[0-9a-f]{64}\b")


def _add_sequencer(path: Path, sequencer_id: str) -> None:
    document = yaml.safe_load(path.read_text())
    document["sequencers"].append(
        {"id": sequencer_id, "gateway": "gw-a", "platform": "miseq", "data_rate": "0.5 GB/h"}
    )
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _aws_target(lake) -> AwsConnection:
    """The `aws` target, with moto standing in for AWS's API."""
    return AwsConnection(
        region_name="us-east-1",
        endpoint_url=lake.moto.endpoint,
        storagegateway_endpoint_url=lake.gateway.endpoint,
        target="aws",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _bucket_exists(lake, bucket: str) -> bool:
    try:
        lake.moto.client("s3").head_bucket(Bucket=bucket)
    except ClientError:
        return False
    return True


def _current_digest(lake) -> str:
    config = load_lake_config(lake.config_path)
    plan = plan_lake(config, lake.clients)
    return plan_digest(plan, hashlib.sha256(lake.config_path.read_bytes()).hexdigest())


@dataclass
class Story:
    """One provisioned lake taken through a reviewed change, step by step."""

    lake: Lake
    sensor: dg.SensorResult
    created_before_approval: bool
    stale: str
    current: str
    cli_refusal: subprocess.CompletedProcess[str]
    job_refusal: str
    job_run_id: str
    created_after_approval: bool
    cli_digest: str
    cli_apply: subprocess.CompletedProcess[str]
    history: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def story(moto_server, tmp_path_factory) -> Iterator[Story]:
    """Module-scoped (a provisioned lake costs seconds): every step runs here, each test
    checks one promise of it."""
    work = tmp_path_factory.mktemp("approval")
    config_path = edited_config(work, SMALL_CONFIG, lambda d: None, "lake.yaml")
    with module_lake(moto_server, work, config_path) as lake:
        yield _tell(lake)


def _tell(lake: Lake) -> Story:
    stale = _current_digest(lake)  # reviewed before the sequencer was added
    _add_sequencer(lake.config_path, NEW_SEQUENCER)
    aws = {"lake": LakeConfigResource(path=str(lake.config_path)), "aws": _aws_target(lake)}
    with dg.instance_for_test() as instance:
        sensor = lake_config_changed(dg.build_sensor_context(instance=instance, resources=aws))
    created_before = _bucket_exists(lake, NEW_BUCKET)
    current = _current_digest(lake)
    cli_refusal = lake.cli("provision", "--apply", "--yes", "--digest", stale)
    local = dagster_resources(lake.moto.endpoint, lake.gateway.endpoint, lake.config_path)
    refused = provision_lake.execute_in_process(
        resources=local, run_config=approval_run_config(stale), raise_on_error=False
    )
    failures = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    job_refusal = failures[0].event_specific_data.error.message if failures else "(not refused)"
    created_before = created_before or _bucket_exists(lake, NEW_BUCKET)
    applied = provision_lake.execute_in_process(
        resources=local, run_config=approval_run_config(current)
    )
    created_after = _bucket_exists(lake, NEW_BUCKET)
    _add_sequencer(lake.config_path, "MIS-MAD-03")
    cli_digest = _current_digest(lake)
    cli_apply = lake.cli("provision", "--apply", "--yes", "--digest", cli_digest)
    return Story(
        lake,
        sensor,
        created_before,
        stale,
        current,
        cli_refusal,
        job_refusal,
        applied.run_id,
        created_after,
        cli_digest,
        cli_apply,
        lake.cli("provision", "--history"),
    )


def test_a_new_sequencer_on_aws_is_planned_and_nothing_is_created_until_approved(story):
    # Nothing applied on the aws target; and the sensor's first sight of a document refreshes
    # no capacity report (start-up builds it once, with the first catalogue).
    assert [r.job_name for r in story.sensor.run_requests] == []
    (plan,) = [
        e for e in story.sensor.asset_events if e.asset_key == dg.AssetKey("provisioning_plan")
    ]
    metadata = {k: v.value for k, v in plan.metadata.items()}
    assert metadata["auto apply"] is False
    assert metadata["plan_create"] > 0
    assert metadata["irreversible"] == 1  # the new bucket, under Object Lock COMPLIANCE
    changes = metadata["change list"]
    assert changes[0]["name"] == NEW_BUCKET  # the irreversible change comes first
    assert {(c["resource"], c["name"]) for c in changes} >= {
        ("s3-bucket", NEW_BUCKET),
        ("s3-object-lock", NEW_BUCKET),
    }
    assert f"IRREVERSIBLE create s3-bucket {NEW_BUCKET}" in metadata["changes"]
    assert DIGEST.fullmatch(metadata["plan digest"])
    assert story.created_before_approval is False


def test_a_stale_digest_is_refused_by_the_job_and_the_cli_naming_both_digests(story):
    assert story.stale != story.current
    assert story.cli_refusal.returncode == 1
    assert story.stale in story.cli_refusal.stderr, story.cli_refusal.stderr
    assert story.current in story.cli_refusal.stderr
    assert story.stale in story.job_refusal and story.current in story.job_refusal


def test_the_reviewed_digest_applies_from_the_job_and_from_the_cli(story):
    assert story.created_after_approval is True
    assert story.cli_apply.returncode == 0, story.cli_apply.stderr
    assert f"plan digest: {story.cli_digest}" in story.cli_apply.stdout
    assert re.search(
        r"^applied \d+ changes?; recorded as lake-config/applies/", story.cli_apply.stdout, re.M
    )


def test_the_history_lists_each_apply_with_its_digest_who_and_how(story):
    assert story.history.returncode == 0, story.history.stderr
    header, job, cli = story.history.stdout.splitlines()
    assert header.split() == ["applied", "at", "plan", "digest", "config", "changes", "by,", "via"]
    assert job.split()[1] == story.current[:16]
    assert job.endswith(f"arn:aws:sts::123456789012:user/moto, dagster run {story.job_run_id}")
    assert cli.split()[1] == story.cli_digest[:16]
    config_sha256 = hashlib.sha256(story.lake.config_path.read_bytes()).hexdigest()
    assert cli.split()[2] == config_sha256[:12]
    assert cli.endswith("arn:aws:sts::123456789012:user/moto, ngs-lake provision")


def test_auto_apply_is_refused_on_the_aws_target_and_defaults_to_the_local_target_only():
    raw = yaml.safe_load(SMALL_CONFIG.read_text())
    unset = parse_lake_document(raw, target="aws").lake
    assert (unset.applies_automatically("aws"), unset.applies_automatically("local")) == (
        False,
        True,
    )
    raw["lake"]["auto_apply"] = True
    assert parse_lake_document(raw, target="local").lake.auto_apply is True
    with pytest.raises(LakeConfigError) as refused:
        parse_lake_document(raw, target="aws")
    assert refused.value.problems == [
        "lake.auto_apply: true is refused on the aws target (NGS_LAKE_TARGET=aws): a change "
        "there is planned, reviewed, then applied with `ngs-lake provision --apply`; remove the "
        "key or set it to false"
    ]


def test_the_plan_digest_covers_the_document_and_every_change_not_the_printed_policies():
    change = Change("s3-bucket", "small-lake-x", Action.CREATE, "bucket not found")
    plan = Plan([Stage("Sequencer buckets", [[change]])], iam_policies={"gateway role": {}})
    expected = {
        "config_sha256": "a" * 64,
        "changes": [
            {
                "resource": "s3-bucket",
                "name": "small-lake-x",
                "action": "create",
                "reason": "bucket not found",
            }
        ],
    }
    digest = hashlib.sha256(json.dumps(expected, sort_keys=True).encode()).hexdigest()
    assert plan_digest(plan, "a" * 64) == digest
    plan.iam_policies = {"gateway role": {"Statement": []}}  # printed, never applied
    assert plan_digest(plan, "a" * 64) == digest
    assert plan_digest(plan, "b" * 64) != digest
    change.reason = "bucket not found again"
    assert plan_digest(plan, "a" * 64) != digest
