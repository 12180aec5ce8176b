"""`fixity_audit`: each day, a rotating sample of every sequencer bucket's recorded object
versions recomputed and compared with their runs' fixity records, every recorded key checked for
a newer current version, the evidence written to the Object Lock evidence bucket and the rows to
the catalogue's `fixity` table. A failure opens a `fixity_mismatch` alert (the alerts sensor reads
the open mismatches) and fails the asset's check.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DefaultScheduleStatus,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    define_asset_job,
)

from ngs_lake.config.units import format_size
from ngs_lake.fixity.audit_pass import audit_lake
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource

CHECK = "no_fixity_mismatch"


@asset(
    description="Daily fixity audit at rest: a rotating sample per bucket recomputed against "
    "the runs' fixity records; evidence in the Object Lock evidence bucket.",
    group_name="fixity",
    check_specs=[AssetCheckSpec(CHECK, asset="fixity_audit")],
)
def fixity_audit(
    context: AssetExecutionContext, aws: AwsConnection, lake: LakeConfigResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    document = lake.load(aws)
    clients = aws.clients(document.lake.region)
    now = datetime.now(UTC)
    summary = audit_lake(clients, document, now.date(), now)
    failures = summary.failures
    for entry in failures[:20]:
        context.log.error(f"fixity: {entry.bucket}/{entry.key} {entry.result} {entry.detail}")
    yield MaterializeResult(
        metadata={
            "audited": len(summary.entries),
            "failures": len(failures),
            "open_mismatches": len(summary.open_mismatches),
            "deferred": format_size(summary.deferred_bytes),
            "evidence_reports": len(summary.evidence),
        }
    )
    yield AssetCheckResult(
        check_name=CHECK,
        passed=not summary.open_mismatches,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(summary.open_mismatches)} key(s) whose bytes at rest are not the "
        "recorded ones",
    )


fixity_audit_job = define_asset_job("fixity_audit_job", selection=[fixity_audit])

fixity_audit_schedule = ScheduleDefinition(
    name="fixity_audit_daily",
    job=fixity_audit_job,
    cron_schedule="15 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
