"""Where the document in force is found after a restart: through the catalogue bucket the
deployment pins (NGS_LAKE_CATALOG_BUCKET), never through the file, which may be anything.
Against the session's moto server, read back through boto3."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ngs_lake.config.model import LakeConfigError
from ngs_lake.provisioning.document_in_force import (
    CATALOG_BUCKET_ENV,
    RECORD_KEY,
    forget_process_state,
    load_document_in_force,
)
from ngs_lake_tests.conftest import SMALL_CONFIG

BUCKET = "small-lake-catalog"  # config/examples/small.yaml's lake.catalog_bucket
DEPLOYED = {CATALOG_BUCKET_ENV: BUCKET, "AWS_REGION": "us-east-1"}
BROKEN = "sequencers: [\n"  # not YAML: names no bucket at all


@pytest.fixture
def recorded(moto, tmp_path: Path) -> tuple[Path, object, str]:
    """The valid document loaded once (and so recorded), then a restart: nothing in memory."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    path = tmp_path / "lake.yaml"
    path.write_bytes(SMALL_CONFIG.read_bytes())
    forget_process_state()
    load_document_in_force(path, lambda region: s3, "local", environ=DEPLOYED)
    forget_process_state()
    return path, s3, hashlib.sha256(SMALL_CONFIG.read_bytes()).hexdigest()


def test_a_restart_with_a_file_that_is_not_yaml_runs_on_the_pinned_record(recorded):
    path, s3, digest = recorded
    held = json.loads(s3.get_object(Bucket=BUCKET, Key=RECORD_KEY)["Body"].read())
    assert held["sha256"] == digest
    path.write_text(BROKEN)
    loaded = load_document_in_force(path, lambda region: s3, "local", environ=DEPLOYED)
    assert loaded.falls_back and loaded.sha256 == digest
    assert loaded.document.lake.catalog_bucket == BUCKET
    assert loaded.file_sha256 == hashlib.sha256(BROKEN.encode()).hexdigest()


def test_without_the_variable_the_same_restart_names_what_is_missing(recorded):
    path, s3, _ = recorded
    path.write_text(BROKEN)
    with pytest.raises(LakeConfigError) as raised:
        load_document_in_force(path, lambda region: s3, "local", environ={})
    assert raised.value.problems[-1] == (
        "no document to fall back on: NGS_LAKE_CATALOG_BUCKET is not set, the file names no "
        "readable lake.catalog_bucket, and this process has loaded no valid document"
    )


def test_a_valid_document_naming_another_bucket_than_the_deployment_is_refused(recorded):
    path, s3, digest = recorded
    path.write_text(SMALL_CONFIG.read_text().replace(BUCKET, "other-lake-catalog"))
    loaded = load_document_in_force(path, lambda region: s3, "local", environ=DEPLOYED)
    assert loaded.problems == (
        "lake.catalog_bucket: 'other-lake-catalog' is not the bucket this deployment records "
        "the document in (NGS_LAKE_CATALOG_BUCKET='small-lake-catalog'); change both together",
    )
    assert loaded.sha256 == digest  # the recorded document stays in force
