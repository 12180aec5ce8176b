"""`sequencing_run` (one partition per run: verified complete in S3) and `run_manifest` (every
object of the run, as Parquet in the catalogue bucket), downstream of it.

A verification that fails is not a failed Dagster run: the run is recorded INCOMPLETE,
`run.incomplete#n` names what is missing, and the sensor asks the gateway again after a backoff.
"""

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ngs_lake.config.names import LakeNames
from ngs_lake.config.units import format_size
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.orchestration.sequencing.partitions import sequencing_runs
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.ledger import RunLedger, TransitionConflict
from ngs_lake.runs.lifecycle import complete, record_incomplete
from ngs_lake.runs.model import Run, RunState
from ngs_lake.runs.verification import Verification, verify_run

GEOMETRY_CHECK = "file_count_matches_geometry"
LEDGER_CHECK = "no_object_missing"
CHECKS = [
    AssetCheckSpec(
        GEOMETRY_CHECK,
        asset="sequencing_run",
        partitions_def=sequencing_runs,
        description="The files in S3 match the run's own geometry (every expected file is there).",
    ),
    AssetCheckSpec(
        LEDGER_CHECK,
        asset="sequencing_run",
        partitions_def=sequencing_runs,
        description="Every file the ledger recorded is in S3 with its size.",
    ),
]


def check_results(verification: Verification) -> list[AssetCheckResult]:
    """Both checks, from the verification the asset already made (one S3 listing)."""
    problems = verification.missing_from_s3 + verification.size_mismatch
    return [
        AssetCheckResult(
            check_name=GEOMETRY_CHECK,
            passed=not (verification.missing_expected or verification.unreadable),
            metadata={
                "expected_files": verification.expected_count,
                "files_in_s3": verification.files,
                "missing": len(verification.missing_expected),
                "unreadable": "; ".join(verification.reasons[:5]),
            },
        ),
        AssetCheckResult(
            check_name=LEDGER_CHECK,
            passed=not problems,
            metadata={"missing_or_mismatched": len(problems), "first": ", ".join(problems[:10])},
        ),
    ]


def partition_metadata(
    run: Run, facts: dict[str, Any], verification: Verification
) -> dict[str, Any]:
    """What the UI shows for a completed run: its figures and the instrument's metadata."""
    instrument = {
        f"run_{key}": value
        for key, value in verification.metadata.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    }
    return {
        "files": facts["files"],
        "size": format_size(facts["bytes"]),
        "platform": run.platform,
        "site": run.site,
        "flowcell": str(verification.metadata.get("flowcell") or ""),
        "s3_prefix": MetadataValue.url(f"s3://{run.bucket}/{run.run_folder}/"),
        "sequencing_seconds": facts["sequencing_seconds"] or 0.0,
        "upload_lag_seconds": facts["upload_lag_seconds"] or 0.0,
        "marker_to_completion_seconds": facts["marker_to_completion_seconds"] or 0.0,
        "expected_files": verification.expected_count,
        **instrument,
    }


@asset(
    partitions_def=sequencing_runs,
    output_required=False,
    check_specs=CHECKS,
    description="A sequencing run, verified complete in S3 against the ledger and its geometry.",
    group_name="sequencing",
)
def sequencing_run(
    context: AssetExecutionContext, aws: AwsConnection, lake: LakeConfigResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    document = lake.load()
    clients = aws.clients(document.lake.region)
    names = LakeNames.of(document)
    ledger = RunLedger(clients, names, document.lake.events_ttl_days)
    run_key = context.partition_key
    run = ledger.require_run(run_key)
    announcer = RunAnnouncer(clients, names, ledger)
    if run.state != RunState.UPLOAD_CONFIRMED:
        context.log.info(f"{run_key} is {run.state}, not waiting for verification")
        announcer.publish_pending(run_key)
        return
    verification = verify_run(clients.s3(), run, ledger.files(run_key))
    if not verification.passed:
        attempt = record_incomplete(ledger, run, verification)
        announcer.publish_pending(run_key)  # earlier steps first, then run.incomplete#n
        context.log.warning(
            f"{run_key} incomplete (attempt {attempt}): "
            f"{len(verification.missing)} missing, first {verification.missing[:5]}; "
            f"unreadable: {verification.reasons[:5]}"
        )
        yield from check_results(verification)
        return
    try:
        facts = complete(ledger, run, verification)
    except TransitionConflict:
        context.log.info(f"{run_key} moved on meanwhile; leaving it")
        return
    yield MaterializeResult(metadata=partition_metadata(run, facts, verification))
    yield from check_results(verification)
    announcer.publish_pending(run_key)  # run.started and run.copy_complete first, if still due


@asset(
    partitions_def=sequencing_runs,
    deps=[sequencing_run],
    automation_condition=AutomationCondition.eager(),
    description="Every object of the run (key, size, checksum, version id) as Parquet.",
    group_name="sequencing",
)
def run_manifest(
    context: AssetExecutionContext, aws: AwsConnection, lake: LakeConfigResource
) -> MaterializeResult:
    document = lake.load()
    clients = aws.clients(document.lake.region)
    names = LakeNames.of(document)
    run = RunLedger(clients, names).require_run(context.partition_key)
    s3 = clients.s3()
    rows = {"key": [], "size": [], "etag": [], "version_id": [], "last_modified": []}
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=run.bucket, Prefix=f"{run.run_folder}/"
    ):
        for version in page.get("Versions", []):
            if not version.get("IsLatest"):
                continue
            rows["key"].append(version["Key"])
            rows["size"].append(version["Size"])
            rows["etag"].append(version.get("ETag", "").strip('"'))
            rows["version_id"].append(version.get("VersionId"))
            rows["last_modified"].append(version["LastModified"].isoformat())
    buffer = io.BytesIO()
    pq.write_table(pa.table(rows), buffer)
    key = f"manifests/{context.partition_key}.parquet"
    s3.put_object(Bucket=document.lake.catalog_bucket, Key=key, Body=buffer.getvalue())
    return MaterializeResult(
        metadata={
            "objects": len(rows["key"]),
            "size": format_size(sum(rows["size"])),
            "manifest": MetadataValue.url(f"s3://{document.lake.catalog_bucket}/{key}"),
        }
    )
