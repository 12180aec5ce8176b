"""`inventory_catalog`: the lake's daily catalogue from S3 Inventory, with its asset checks.

A rejected report fails the run with an error naming it, after the other buckets have been
catalogued and recorded: one corrupt delivery does not hold back the other sequencers, and the
rejected bucket keeps its previous catalogue entry.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    define_asset_job,
)

from ngs_lake.config.names import LakeNames
from ngs_lake.config.units import format_size
from ngs_lake.inventory.audit import Finding, report_age_days
from ngs_lake.inventory.catalogue_page import publish_catalogue_index
from ngs_lake.inventory.query import mirror_catalogue, open_catalogue
from ngs_lake.inventory.refresh import BucketRefresh, CatalogueRefresh, refresh_catalogue
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.runs.ledger import RunLedger

MAX_REPORT_AGE_DAYS = 2

CHECKS = {
    "every_object_encrypted": "Every catalogued object is server-side encrypted.",
    "every_object_locked": (
        "Every current object is under Object Lock COMPLIANCE, retained at least the policy's "
        "days from upload."
    ),
    "ledger_files_in_inventory": (
        "Every file the ledger saw uploaded before the report is in it (missing ones named)."
    ),
    "report_fresh": f"Every bucket's newest report is at most {MAX_REPORT_AGE_DAYS} days old.",
}


@asset(
    group_name="catalogue",
    # The sensor `inventory_reports_arrived` materialises it for each new report; the daily
    # schedule re-checks freshness when reports stop arriving.
    description="The lake's catalogue: every object from S3 Inventory, mapped to its run, as "
    "Parquet partitioned by site and sequencer, with per-run and per-sequencer aggregates.",
    check_specs=[
        AssetCheckSpec(name, asset="inventory_catalog", description=text)
        for name, text in CHECKS.items()
    ],
)
def inventory_catalog(
    context: AssetExecutionContext, aws: AwsConnection, lake: LakeConfigResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    document = lake.load(aws)
    clients = aws.clients(document.lake.region)
    ledger = RunLedger(clients, LakeNames.of(document))
    refresh = refresh_catalogue(clients, document, ledger)
    for bucket in refresh.buckets:
        if bucket.still_arriving:
            context.log.info(f"{bucket.source.bucket}: skipped {', '.join(bucket.still_arriving)}")
    now = datetime.now(UTC)
    with TemporaryDirectory() as folder:
        mirror = mirror_catalogue(
            clients.s3(), document.lake.catalog_bucket, Path(folder), ("sequencers",)
        )
        with open_catalogue(mirror) as db:
            columns = ["site", "platform", "sequencers", "runs", "objects", "size"]
            rows = db.execute(
                "SELECT site, platform, count(*), sum(runs)::BIGINT, sum(objects)::BIGINT, "
                "sum(bytes)::BIGINT FROM sequencers GROUP BY ALL ORDER BY ALL"
            ).fetchall()
    # Sizes in human units (SI, as `config validate` and the capacity report show them).
    shown = [(*r[:5], format_size(r[5])) for r in rows]
    yield MaterializeResult(
        metadata={
            "objects": sum(r[4] for r in rows),
            "size": format_size(sum(r[5] for r in rows)),
            "runs": sum(r[3] for r in rows),
            "buckets catalogued": len(refresh.catalogued),
            "buckets rejected": MetadataValue.json(
                {b.source.bucket: b.error for b in refresh.rejected}
            ),
            "by site and platform": MetadataValue.table(
                [TableRecord(dict(zip(columns, r, strict=True))) for r in shown],
                schema=TableSchema(
                    [
                        TableColumn(
                            c, "int" if c in ("sequencers", "runs", "objects") else "string"
                        )
                        for c in columns
                    ]
                ),
            ),
            # A page, not S3's ListObjects XML: an HTML index of the catalogue's files,
            # presigned as the capacity report's links are (AWS and the moto server alike).
            "catalogue": MetadataValue.url(
                publish_catalogue_index(clients.s3(), document.lake.catalog_bucket, now)
            ),
        }
    )
    yield from check_results(refresh, now)
    if refresh.rejected:
        raise Failure(
            description="inventory report rejected: "
            + "; ".join(b.error or b.source.bucket for b in refresh.rejected),
            metadata={"rejected": [b.manifest_key or b.source.bucket for b in refresh.rejected]},
        )


def check_results(refresh: CatalogueRefresh, now: datetime) -> Iterator[AssetCheckResult]:
    done = refresh.catalogued
    yield _finding_check("every_object_encrypted", done, lambda b: b.unencrypted)
    yield _finding_check("every_object_locked", done, lambda b: b.not_locked)
    yield _finding_check("ledger_files_in_inventory", done, lambda b: b.missing)
    stale = {
        b.source.bucket: (
            "no complete report"
            if b.report_time is None
            else f"{report_age_days(b.report_time, now):.1f} days old"
        )
        for b in refresh.buckets
        if b.status != "rejected"
        and (b.report_time is None or report_age_days(b.report_time, now) > MAX_REPORT_AGE_DAYS)
    }
    yield AssetCheckResult(
        check_name="report_fresh",
        passed=not stale,
        severity=AssetCheckSeverity.WARN,  # a late report delays the audit; it finds nothing wrong
        description="all reports fresh" if not stale else f"{len(stale)} buckets stale",
        metadata={"stale": MetadataValue.json(stale)},
    )


def _finding_check(
    name: str, buckets: list[BucketRefresh], pick: Callable[[BucketRefresh], Finding | None]
) -> AssetCheckResult:
    findings: dict[str, Finding] = {b.source.bucket: f for b in buckets if (f := pick(b))}
    failing = {bucket: f for bucket, f in findings.items() if not f.ok}
    total = sum(f.count for f in failing.values())
    return AssetCheckResult(
        check_name=name,
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,  # an unlocked, unencrypted or missing object
        description=(
            f"{len(findings)} buckets checked, none failing"
            if not failing
            else f"{total} objects in {len(failing)} buckets: "
            + "; ".join(f.describe(b) for b, f in failing.items())
        ),
        metadata={"failing": MetadataValue.json({b: f.count for b, f in failing.items()})},
    )


inventory_catalog_job = define_asset_job("inventory_catalog_job", selection=[inventory_catalog])

# AWS delivers daily inventory reports overnight; the lake spans time zones, so UTC.
inventory_catalog_schedule = ScheduleDefinition(
    name="inventory_catalog_daily",
    job=inventory_catalog_job,
    cron_schedule="0 7 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
