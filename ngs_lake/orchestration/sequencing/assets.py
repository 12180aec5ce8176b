"""`sequencing_run` (one partition per run: verified complete in S3) and `run_manifest` (every
object of the run, as Parquet in the catalogue bucket), downstream of it.

Most runs are verified in the events sensor's tick, which reports the partition through its
asset events (`partition_reports`); this asset verifies the runs that did not fit the tick.

A verification that fails is not a failed Dagster run: the run is recorded INCOMPLETE,
`run.incomplete#n` names what is missing, and the sensor asks the gateway again after a backoff.
"""

import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ngs_lake.config.names import LakeNames
from ngs_lake.config.units import format_size
from ngs_lake.fixity.manifest_rows import manifest_rows
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.orchestration.sequencing.partition_reports import (
    CHECKS,
    check_outcomes,
    check_results,
    completed_check_outcomes,
    partition_metadata,
)
from ngs_lake.orchestration.sequencing.partitions import sequencing_runs
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.ledger import RunLedger, TransitionConflict
from ngs_lake.runs.lifecycle import complete, record_incomplete
from ngs_lake.runs.model import RunState
from ngs_lake.runs.sample_sheets import SampleSheetRecorder
from ngs_lake.runs.verification import verify_run


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
    document = lake.load(aws)
    clients = aws.clients(document.lake.region)
    names = LakeNames.of(document)
    ledger = RunLedger(clients, names, document.lake.events_ttl_days)
    run_key = context.partition_key
    run = ledger.require_run(run_key)
    announcer = RunAnnouncer(clients, names, ledger, document.lake.catalog_bucket)
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
        yield from check_results(check_outcomes(verification))
        return
    try:
        records = FixityRecordStore(clients.s3(), document.lake.catalog_bucket)
        sheets = SampleSheetRecorder(clients.s3(), ledger)
        completed = complete(ledger, run, verification, records, sheets)
    except TransitionConflict:
        context.log.info(f"{run_key} moved on meanwhile; leaving it")
        return
    yield MaterializeResult(metadata=partition_metadata(completed))
    yield from check_results(completed_check_outcomes(completed))
    announcer.publish_pending(run_key)  # run.started and run.copy_complete first, if still due


@asset(
    partitions_def=sequencing_runs,
    deps=[sequencing_run],
    automation_condition=AutomationCondition.eager(),
    description="Every object of the run (key, size, version id, checksum and its type, the "
    "instrument's hash) as Parquet.",
    group_name="sequencing",
)
def run_manifest(
    context: AssetExecutionContext, aws: AwsConnection, lake: LakeConfigResource
) -> MaterializeResult:
    document = lake.load(aws)
    clients = aws.clients(document.lake.region)
    names = LakeNames.of(document)
    ledger = RunLedger(clients, names)
    run = ledger.require_run(context.partition_key)
    s3 = clients.s3()
    record = FixityRecordStore(s3, document.lake.catalog_bucket).read(run.run_key)
    rows = manifest_rows(s3, run, record)
    buffer = io.BytesIO()
    pq.write_table(pa.table(rows), buffer)
    key = f"manifests/{context.partition_key}.parquet"
    s3.put_object(Bucket=document.lake.catalog_bucket, Key=key, Body=buffer.getvalue())
    # Written, with every amendment the run had when this began: the sensor owes it no more.
    ledger.record_manifest(run.run_key, run.amended_count)
    return MaterializeResult(
        metadata={
            "objects": len(rows["key"]),
            "size": format_size(sum(rows["size"])),
            "manifest": MetadataValue.url(f"s3://{document.lake.catalog_bucket}/{key}"),
        }
    )
