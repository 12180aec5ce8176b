"""One catalogue refresh: for every sequencer bucket, the newest complete inventory report,
verified, catalogued, audited and published to the catalogue bucket.

Buckets are independent. A report that fails verification is rejected by name and its bucket's
previous catalogue entry stays as it was; the other buckets still refresh. A bucket whose newest
report is still arriving (no `manifest.checksum` yet) uses the newest complete one.

Catalogue layout in the catalogue bucket, partitioned by site and sequencer (Hive style):
`catalog/{objects,runs,sequencers}/site=<site>/sequencer_id=<id>/<table>.parquet`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.inventory.audit import Finding, missing_from_inventory, not_locked, unencrypted
from ngs_lake.inventory.catalog import (
    OBJECTS_FILE,
    RUNS_FILE,
    SEQUENCER_FILE,
    CatalogueSummary,
    SourceBucket,
    catalogue_bucket,
)
from ngs_lake.inventory.report import (
    InventoryReportError,
    download_verified,
    find_latest_report,
    report_root,
)
from ngs_lake.inventory.samples_catalog import (
    SAMPLES_TABLE_KEY,
    mirror_manifests,
    samples_from_files,
)
from ngs_lake.runs.ledger import RunLedger

CATALOG_PREFIX = "catalog"
# Catalogue table -> the file `catalogue_bucket` writes for it, in the order it returns them.
FILES = {"objects": OBJECTS_FILE, "runs": RUNS_FILE, "sequencers": SEQUENCER_FILE}
TABLES = tuple(FILES)


def partition_key(table: str, site: str, sequencer_id: str) -> str:
    return f"{CATALOG_PREFIX}/{table}/site={site}/sequencer_id={sequencer_id}/{FILES[table]}"


@dataclass
class BucketRefresh:
    source: SourceBucket
    status: Literal["catalogued", "no complete report", "rejected"] = "no complete report"
    manifest_key: str | None = None
    report_time: datetime | None = None
    summary: CatalogueSummary | None = None
    error: str | None = None
    still_arriving: tuple[str, ...] = ()
    unencrypted: Finding | None = None
    not_locked: Finding | None = None
    missing: Finding | None = None  # ledger files absent from the report


@dataclass
class CatalogueRefresh:
    buckets: list[BucketRefresh] = field(default_factory=list)

    @property
    def catalogued(self) -> list[BucketRefresh]:
        return [b for b in self.buckets if b.status == "catalogued"]

    @property
    def rejected(self) -> list[BucketRefresh]:
        return [b for b in self.buckets if b.status == "rejected"]


def refresh_catalogue(
    clients: AwsClients,
    config: LakeConfig,
    ledger: RunLedger | None = None,
    sequencer_ids: list[str] | None = None,
) -> CatalogueRefresh:
    """Refresh the catalogue for every sequencer (or those named)."""
    s3 = clients.s3()
    inventory = config.lake.inventory
    config_id = LakeNames.of(config).inventory_config_id
    result = CatalogueRefresh()
    runs: list[pl.DataFrame] = []  # each catalogued bucket's runs, for the samples table
    work = Path(tempfile.mkdtemp(prefix="ngs-lake-catalogue-"))
    try:
        for sequencer in config.sequencers:
            if sequencer_ids is not None and sequencer.id not in sequencer_ids:
                continue
            bucket = config.bucket_name(sequencer.id)
            source = SourceBucket(
                bucket, sequencer.id, config.site_of(sequencer).id, sequencer.platform
            )
            outcome = BucketRefresh(source)
            result.buckets.append(outcome)
            root = report_root(inventory.prefix, bucket, config_id)
            try:
                search = find_latest_report(s3, inventory.bucket, root)
                outcome.still_arriving = search.incomplete
                if search.report is None:
                    continue
                report = search.report
                outcome.manifest_key = report.manifest_key
                outcome.report_time = report.manifest.created_at
                folder = work / sequencer.id
                (folder / "data").mkdir(parents=True)
                files = download_verified(s3, inventory.bucket, report, folder / "data")
            except InventoryReportError as exc:
                outcome.status, outcome.error = "rejected", str(exc)
                continue
            try:
                summary = catalogue_bucket(
                    files,
                    report.manifest.file_format,
                    report.manifest.columns,
                    source,
                    report.manifest.created_at,
                    folder / "catalogue",
                )
            except InventoryReportError as exc:  # verified, but not what S3 Inventory writes
                outcome.status = "rejected"
                outcome.error = f"s3://{inventory.bucket}/{report.manifest_key}: {exc}"
                continue
            objects_file = summary.files[0]
            outcome.unencrypted = unencrypted(objects_file)
            outcome.not_locked = not_locked(objects_file, config.lake.object_lock.retention_days)
            if ledger is not None:
                keys = ledger_keys(ledger, sequencer.id, report.manifest.created_at)
                outcome.missing = missing_from_inventory(objects_file, keys)
            for table, path in zip(TABLES, summary.files, strict=True):
                s3.upload_file(
                    str(path),
                    config.lake.catalog_bucket,
                    partition_key(table, source.site, sequencer.id),
                )
            outcome.status, outcome.summary = "catalogued", summary
            runs.append(pl.read_parquet(summary.files[1], columns=["run_key", "files", "bytes"]))
            shutil.rmtree(folder, ignore_errors=True)
        write_samples_table(s3, config.lake.catalog_bucket, runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def write_samples_table(s3: Any, bucket: str, runs: list[pl.DataFrame], work: Path) -> None:
    """Issue #31: the samples table, from every run's latest sample manifest, with the bytes
    and objects of the runs this refresh catalogued."""
    manifests = mirror_manifests(s3, bucket, work / "manifests")
    frame = samples_from_files(manifests, pl.concat(runs) if runs else None)
    path = work / "samples.parquet"
    frame.write_parquet(path, compression="lz4")
    s3.upload_file(str(path), bucket, SAMPLES_TABLE_KEY)


def ledger_keys(ledger: RunLedger, sequencer_id: str, until: datetime) -> list[str]:
    """S3 keys of the files the ledger saw uploaded by `until` (later ones postdate the report)."""
    keys: list[str] = []
    for run in ledger.runs_of_sequencer(sequencer_id):
        for row in ledger.files(run.run_key):
            if row.uploaded_at <= until:
                keys.append(f"{run.run_folder}/{row.path}")
    return keys
