"""Writes real-format S3 Inventory reports, for the local stand-in that stores inventory
configurations but never delivers reports (ARCHITECTURE §9).

It reads each lake bucket's current objects (a listing plus one HEAD per object, for the
encryption and Object Lock fields a listing lacks) and writes what AWS would: CSV.gz with no
header and URL-encoded keys (or Parquet), `manifest.json` with `fileSchema` and MD5s, and
`manifest.checksum` last. The writers take plain rows, so tests and benchmarks build reports for
object sets of their choosing through the same code.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.parquet as pq

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.inventory.report import (
    CSV_COLUMN_ORDER,
    PARQUET_COLUMN,
    manifest_document,
    report_root,
    timestamp_folder,
)
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import RunState, utc_iso

DEFAULT_DELAY_SECONDS = 120.0  # after a run completes; NGS_LAKE_INVENTORY_DELAY_SECONDS

InventoryRow = dict[str, Any]  # CSV column name -> value (int sizes, datetimes, str, bool)

_ENCRYPTION_STATUS = {"aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS", "AES256": "SSE-S3"}
_PARQUET_TYPES: dict[str, pa.DataType] = {
    "Size": pa.int64(),
    "LastModifiedDate": pa.timestamp("ms", tz="UTC"),
    "ObjectLockRetainUntilDate": pa.timestamp("ms", tz="UTC"),
    "IsLatest": pa.bool_(),
    "IsDeleteMarker": pa.bool_(),
    "IsMultipartUploaded": pa.bool_(),
    "BucketKeyStatus": pa.string(),
}


def report_columns(optional_fields: Iterable[str], include_versions: bool = False) -> list[str]:
    """Bucket and Key, the version columns when all versions are listed, then the optional
    fields, all in AWS's order whatever order the configuration named them in."""
    wanted = {"Bucket", "Key", *optional_fields}
    if include_versions:
        wanted |= {"VersionId", "IsLatest", "IsDeleteMarker"}
    return [c for c in CSV_COLUMN_ORDER if c in wanted]


def _csv_value(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "Key":
        return quote_plus(value, safe="/")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{value.microsecond // 1000:03d}Z"
        )
    return str(value)


def encode_csv_gz(rows: Iterable[InventoryRow], columns: Sequence[str]) -> bytes:
    """AWS's CSV: every field quoted, no header, keys form-URL-encoded, gzip."""
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in rows:
        writer.writerow([_csv_value(c, row.get(c)) for c in columns])
    return gzip.compress(text.getvalue().encode(), compresslevel=6)


def encode_parquet(rows: Iterable[InventoryRow], columns: Sequence[str]) -> bytes:
    """AWS's Parquet: snake_case columns, keys not encoded, typed sizes and timestamps."""
    materialised = list(rows)
    arrays = {
        PARQUET_COLUMN[c]: pa.array(
            [row.get(c) for row in materialised], type=_PARQUET_TYPES.get(c, pa.string())
        )
        for c in columns
    }
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer, compression="snappy")
    return buffer.getvalue()


def parquet_schema_text(columns: Sequence[str]) -> str:
    """The `fileSchema` AWS writes for Parquet: a Parquet message type."""
    fields = []
    for c in columns:
        kind = _PARQUET_TYPES.get(c, pa.string())
        physical = (
            "int64"
            if kind in (pa.int64(), pa.timestamp("ms", tz="UTC"))
            else "boolean"
            if kind == pa.bool_()
            else "binary"
        )
        annotation = {"binary": " (STRING)", "int64": ""}.get(physical, "")
        if kind == pa.timestamp("ms", tz="UTC"):
            annotation = " (TIMESTAMP(MILLIS,true))"
        required = "required" if c in ("Bucket", "Key") else "optional"
        fields.append(f"{required} {physical} {PARQUET_COLUMN[c]}{annotation};")
    return "message s3.inventory { " + " ".join(fields) + " }"


def publish_report(
    s3: Any,
    *,
    destination_bucket: str,
    root: str,
    source_bucket: str,
    file_format: str,
    columns: Sequence[str],
    rows: Iterable[InventoryRow],
    created_at: datetime,
    rows_per_file: int = 250_000,
) -> str:
    """Upload data files, then manifest.json, then manifest.checksum; returns the manifest key."""
    files: list[dict[str, Any]] = []
    suffix = ".csv.gz" if file_format == "CSV" else ".parquet"
    for chunk in _batched(rows, rows_per_file):
        body = (
            encode_csv_gz(chunk, columns)
            if file_format == "CSV"
            else encode_parquet(chunk, columns)
        )
        key = f"{root}data/{uuid.uuid4()}{suffix}"
        s3.put_object(Bucket=destination_bucket, Key=key, Body=body)
        files.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    schema = ", ".join(columns) if file_format == "CSV" else parquet_schema_text(columns)
    manifest = manifest_document(
        source_bucket, destination_bucket, created_at, file_format, schema, files
    )
    folder = f"{root}{timestamp_folder(created_at)}/"
    s3.put_object(Bucket=destination_bucket, Key=f"{folder}manifest.json", Body=manifest)
    s3.put_object(
        Bucket=destination_bucket,
        Key=f"{folder}manifest.checksum",
        Body=hashlib.md5(manifest).hexdigest().encode(),
    )
    return f"{folder}manifest.json"


def current_objects(s3: Any, bucket: str) -> Iterator[InventoryRow]:
    """Every current object of a bucket with the fields an inventory reports."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=item["Key"])
            algorithms = item.get("ChecksumAlgorithm") or []
            yield {
                "Bucket": bucket,
                "Key": item["Key"],
                "VersionId": head.get("VersionId"),
                "IsLatest": True,
                "IsDeleteMarker": False,
                "Size": item["Size"],
                "LastModifiedDate": item["LastModified"],
                "ETag": item.get("ETag", "").strip('"'),
                "StorageClass": item.get("StorageClass", "STANDARD"),
                "IsMultipartUploaded": "-" in item.get("ETag", ""),
                "ReplicationStatus": head.get("ReplicationStatus", ""),
                "EncryptionStatus": _ENCRYPTION_STATUS.get(
                    head.get("ServerSideEncryption", ""), "NOT-SSE"
                ),
                "ObjectLockRetainUntilDate": head.get("ObjectLockRetainUntilDate"),
                "ObjectLockMode": head.get("ObjectLockMode", ""),
                "ObjectLockLegalHoldStatus": head.get("ObjectLockLegalHoldStatus", "OFF"),
                "BucketKeyStatus": "ENABLED" if head.get("BucketKeyEnabled") else "DISABLED",
                "ChecksumAlgorithm": algorithms[0] if algorithms else "",
            }


def produce_lake_inventory(
    clients: AwsClients, config: LakeConfig, now: datetime | None = None
) -> list[str]:
    """One report per sequencer bucket, as the bucket's inventory configuration asks for."""
    s3 = clients.s3()
    inventory = config.lake.inventory
    config_id = LakeNames.of(config).inventory_config_id
    moment = now or datetime.now(UTC)
    columns = report_columns(inventory.fields)
    written = []
    for sequencer in config.sequencers:
        bucket = config.bucket_name(sequencer.id)
        written.append(
            publish_report(
                s3,
                destination_bucket=inventory.bucket,
                root=report_root(inventory.prefix, bucket, config_id),
                source_bucket=bucket,
                file_format=inventory.format,
                columns=columns,
                rows=current_objects(s3, bucket),
                created_at=moment,
            )
        )
    return written


def _batched(rows: Iterable[InventoryRow], size: int) -> Iterator[list[InventoryRow]]:
    batch: list[InventoryRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class InventoryDelivery:
    """When the stand-in delivers reports: daily, as S3 would, and `delay_seconds` after a run
    completes, so the catalogue (and the manual's catalogue queries) show a completed run
    within minutes rather than the next day. A report taken `delay_seconds` after the newest
    completion also covers the runs that complete in between, so a burst of completions gets
    one report."""

    clients: AwsClients
    config: LakeConfig
    delay_seconds: float = DEFAULT_DELAY_SECONDS
    daily_seconds: float = 86400
    last_report: datetime | None = None
    # The newest completion already covered by a report (or seen before the first one).
    covered_until: datetime | None = None

    def deliver(self, now: datetime) -> list[str]:
        written = produce_lake_inventory(self.clients, self.config, now)
        self.last_report = now
        self.covered_until = max(self.covered_until or now, now)
        return written

    def due(self, now: datetime) -> bool:
        if self.last_report is None:
            return True
        if (now - self.last_report).total_seconds() >= self.daily_seconds:
            return True
        newest = self.newest_completion()
        return (
            newest is not None
            and (self.covered_until is None or newest > self.covered_until)
            and (now - newest).total_seconds() >= self.delay_seconds
        )

    def newest_completion(self) -> datetime | None:
        """The newest completion the ledger holds, among runs active since the last report."""
        since = (self.covered_until or datetime.now(UTC)) - timedelta(days=1)
        ledger = RunLedger(self.clients, LakeNames.of(self.config))
        runs = ledger.runs_in_state(RunState.COMPLETED, active_since=utc_iso(since))
        return max((r.completed_at for r in runs if r.completed_at is not None), default=None)

    def tick(self, now: datetime | None = None) -> list[str]:
        """Deliver if due; returns the manifest keys written (none when not due)."""
        moment = now or datetime.now(UTC)
        return self.deliver(moment) if self.due(moment) else []
