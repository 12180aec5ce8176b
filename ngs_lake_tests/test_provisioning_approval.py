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
import re

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
from ngs_lake_tests.conftest import SMALL_CONFIG, dagster_resources

NEW_SEQUENCER = "MIS-MAD-02"
NEW_BUCKET = "small-lake-mis-mad-02"
DIGEST = re.compile(r"\b[0-9a-f]{64}\b")


def _add_sequencer(path) -> None:
    text = path.read_text()
    line = f"- id: {NEW_SEQUENCER}\n  gateway: gw-a\n  platform: miseq\n  data_rate: 0.5 GB/h\n"
    path.write_text(text.replace("sequencers:\n", "sequencers:\n" + line, 1))


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


def test_a_new_sequencer_on_aws_is_planned_and_nothing_is_created_until_approved(lake):
    _add_sequencer(lake.config_path)
    resources = {"lake": LakeConfigResource(path=str(lake.config_path)), "aws": _aws_target(lake)}
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = lake_config_changed(context)
    assert result.run_requests == [r for r in result.run_requests if r.job_name != "provision_lake"]
    (plan,) = [e for e in result.asset_events if e.asset_key == dg.AssetKey("provisioning_plan")]
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
    assert "IRREVERSIBLE create s3-bucket small-lake-mis-mad-02" in metadata["changes"]
    assert DIGEST.fullmatch(metadata["plan digest"])
    assert not _bucket_exists(lake, NEW_BUCKET)


def test_a_stale_digest_is_refused_naming_both_then_the_reviewed_one_applies(lake):
    reviewed = _current_digest(lake)  # before the sequencer is added: stale after the edit
    _add_sequencer(lake.config_path)
    current = _current_digest(lake)
    assert current != reviewed
    resources = dagster_resources(lake.moto.endpoint, lake.gateway.endpoint, lake.config_path)

    refused = lake.cli("provision", "--apply", "--yes", "--digest", reviewed)
    assert refused.returncode == 1
    assert reviewed in refused.stderr and current in refused.stderr, refused.stderr

    stale = provision_lake.execute_in_process(
        resources=resources, run_config=approval_run_config(reviewed), raise_on_error=False
    )
    assert not stale.success
    (failure,) = [e for e in stale.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert reviewed in message and current in message, message
    assert not _bucket_exists(lake, NEW_BUCKET)

    applied = provision_lake.execute_in_process(
        resources=resources, run_config=approval_run_config(current)
    )
    assert applied.success
    assert _bucket_exists(lake, NEW_BUCKET)

    history = lake.cli("provision", "--history")
    assert history.returncode == 0, history.stderr
    (line,) = [n for n in history.stdout.splitlines() if current[:16] in n]
    assert f"dagster run {applied.run_id}" in line
    assert "arn:aws:sts::123456789012:user/moto" in line  # STS GetCallerIdentity on moto
    assert hashlib.sha256(lake.config_path.read_bytes()).hexdigest()[:12] in line


def test_provision_apply_with_the_reviewed_digest_applies_and_records_it(lake):
    _add_sequencer(lake.config_path)
    current = _current_digest(lake)
    done = lake.cli("provision", "--apply", "--yes", "--digest", current)
    assert done.returncode == 0, done.stderr
    assert f"plan digest: {current}" in done.stdout
    assert re.search(
        r"^applied \d+ change\(s\); recorded as lake-config/applies/", done.stdout, re.M
    )
    history = lake.cli("provision", "--history").stdout
    assert f"{current[:16]}" in history and "ngs-lake provision" in history


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
