"""S3 Inventory reports as AWS delivers them, and how to find and trust the newest one.

Layout in the destination bucket (ARCHITECTURE §3):
`<prefix>/<source-bucket>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json`, with `manifest.checksum`
(the MD5 of manifest.json) written last, and data files under `.../<config-id>/data/`. A report
without its checksum is still being delivered; one whose checksum or data MD5s do not match, or
whose manifest is missing or unreadable, is rejected as `InventoryReportError`, never half-read:
only its own bucket's refresh stops.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# AWS's column order; a report holds the subset its configuration asked for, in this order.
CSV_COLUMN_ORDER = (
    "Bucket",
    "Key",
    "VersionId",
    "IsLatest",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "EncryptionStatus",
    "ObjectLockRetainUntilDate",
    "ObjectLockMode",
    "ObjectLockLegalHoldStatus",
    "IntelligentTieringAccessTier",
    "BucketKeyStatus",
    "ChecksumAlgorithm",
)
# Parquet and ORC reports name the same columns in snake case.
PARQUET_COLUMN = {
    "Bucket": "bucket",
    "Key": "key",
    "VersionId": "version_id",
    "IsLatest": "is_latest",
    "IsDeleteMarker": "is_delete_marker",
    "Size": "size",
    "LastModifiedDate": "last_modified_date",
    "ETag": "e_tag",
    "StorageClass": "storage_class",
    "IsMultipartUploaded": "is_multipart_uploaded",
    "ReplicationStatus": "replication_status",
    "EncryptionStatus": "encryption_status",
    "ObjectLockRetainUntilDate": "object_lock_retain_until_date",
    "ObjectLockMode": "object_lock_mode",
    "ObjectLockLegalHoldStatus": "object_lock_legal_hold_status",
    "IntelligentTieringAccessTier": "intelligent_tiering_access_tier",
    "BucketKeyStatus": "bucket_key_status",
    "ChecksumAlgorithm": "checksum_algorithm",
}
_TIMESTAMP_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$")
_MD5_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
# creationTimestamp is epoch milliseconds; datetime holds no later moment than 9999-12-31.
_LATEST_MS = 253_402_300_799_999


class InventoryReportError(ValueError):
    """A report that cannot be trusted; the message names its manifest and what is wrong."""


class ManifestFile(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str = Field(min_length=1)
    size: int = Field(ge=0)
    md5: str = Field(alias="MD5checksum")


class InventoryManifest(BaseModel):
    """manifest.json, as AWS writes it (unknown fields are kept out of the way, not refused)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    source_bucket: str = Field(alias="sourceBucket")
    destination_bucket: str = Field(alias="destinationBucket")
    version: str
    creation_timestamp: int = Field(alias="creationTimestamp", ge=0, le=_LATEST_MS)
    file_format: Literal["CSV", "ORC", "Parquet"] = Field(alias="fileFormat")
    file_schema: str = Field(alias="fileSchema")
    files: list[ManifestFile]

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.creation_timestamp / 1000, UTC)

    @property
    def columns(self) -> list[str]:
        """CSV column names, in order. Parquet schemas are read from the files themselves."""
        return [c.strip() for c in self.file_schema.split(",")]


def manifest_document(
    source_bucket: str,
    destination_bucket: str,
    created_at: datetime,
    file_format: str,
    file_schema: str,
    files: list[dict[str, Any]],
) -> bytes:
    """manifest.json bytes in AWS's field names; `files` hold key, size and MD5checksum."""
    return json.dumps(
        {
            "sourceBucket": source_bucket,
            "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
            "version": "2016-11-30",
            "creationTimestamp": str(int(created_at.timestamp() * 1000)),
            "fileFormat": file_format,
            "fileSchema": file_schema,
            "files": files,
        },
        indent=2,
    ).encode()


def report_root(prefix: str, source_bucket: str, config_id: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), source_bucket, config_id) if p) + "/"


def timestamp_folder(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H-%MZ")


@dataclass(frozen=True)
class LocatedReport:
    """A report whose manifest and checksum matched; data files not yet checked."""

    manifest_key: str
    manifest: InventoryManifest


@dataclass(frozen=True)
class ReportSearch:
    """The newest complete report, if any, and the newer ones passed over (still arriving)."""

    report: LocatedReport | None
    incomplete: tuple[str, ...]


def find_latest_report(s3: Any, bucket: str, root: str) -> ReportSearch:
    """Newest first: skip reports with no checksum yet, reject one whose checksum is wrong."""
    folders: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=root, Delimiter="/"
    ):
        for common in page.get("CommonPrefixes", []):
            name = common["Prefix"][len(root) :].rstrip("/")
            if _TIMESTAMP_FOLDER.match(name):
                folders.append(common["Prefix"])
    incomplete: list[str] = []
    for folder in sorted(folders, reverse=True):
        manifest_key = f"{folder}manifest.json"
        try:
            raw_checksum = _get(s3, bucket, f"{folder}manifest.checksum")
        except s3.exceptions.NoSuchKey:
            incomplete.append(manifest_key)
            continue
        name = f"s3://{bucket}/{manifest_key}"
        checksum = _checksum(raw_checksum, name)
        try:
            body = _get(s3, bucket, manifest_key)
        except s3.exceptions.NoSuchKey:
            raise InventoryReportError(
                f"{name}: missing, though its manifest.checksum is there; the report is rejected"
            ) from None
        actual = hashlib.md5(body).hexdigest()
        if actual != checksum.lower():
            raise InventoryReportError(
                f"{name}: manifest.checksum says {checksum} but the "
                f"manifest's MD5 is {actual}; the report is rejected"
            )
        located = LocatedReport(manifest_key, parse_manifest(body, name))
        return ReportSearch(located, tuple(incomplete))
    return ReportSearch(None, tuple(incomplete))


def _checksum(raw: bytes, manifest_name: str) -> str:
    """manifest.checksum's MD5, in hex; anything else rejects the report."""
    text = raw.strip()
    if not _MD5_HEX.match(text.decode("latin-1")):
        raise InventoryReportError(
            f"{manifest_name}: manifest.checksum holds {text[:40]!r}, not an MD5 in hex; "
            "the report is rejected"
        )
    return text.decode("ascii")


def parse_manifest(body: bytes, name: str) -> InventoryManifest:
    try:
        return InventoryManifest.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, (".".join(str(p) for p in e["loc"]), e["msg"])))
            for e in exc.errors()
        )
        raise InventoryReportError(f"{name}: not an S3 Inventory manifest ({problems})") from exc


def download_verified(s3: Any, bucket: str, report: LocatedReport, into: Path) -> list[Path]:
    """Stream each data file to disk, checking size and MD5 against the manifest as it goes."""
    name = f"s3://{bucket}/{report.manifest_key}"

    def open_data_file(entry: ManifestFile) -> Any:
        try:
            return s3.get_object(Bucket=bucket, Key=entry.key)["Body"]
        except s3.exceptions.NoSuchKey as exc:
            raise InventoryReportError(f"{name}: data file {entry.key} is missing") from exc

    return fetch_verified(report.manifest.files, open_data_file, into, name)


def fetch_verified(
    entries: Sequence[ManifestFile],
    open_data_file: Callable[[ManifestFile], Any],
    into: Path,
    manifest_name: str,
) -> list[Path]:
    """Copy every data file to `into`, four at a time, each checked as `copy_verified` does.

    Large reports come in several data files; fetching them side by side keeps S3's per-request
    latency and the MD5 off the critical path. Paths are returned in the manifest's order.
    """

    def fetch(index: int, entry: ManifestFile) -> Path:
        target = into / f"{index:05d}-{Path(entry.key).name}"
        stream = open_data_file(entry)
        try:
            copy_verified(stream, target, entry, manifest_name)
        finally:
            stream.close()
        return target

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="inventory-fetch") as pool:
        return list(pool.map(fetch, range(len(entries)), entries))


def copy_verified(stream: Any, target: Path, entry: ManifestFile, manifest_name: str) -> None:
    """Copy a data file to `target` in 1 MiB chunks; refuse it unless size and MD5 match."""
    digest = hashlib.md5()
    size = 0
    with target.open("wb") as out:
        for chunk in _chunks(stream):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if digest.hexdigest() != entry.md5.lower() or size != entry.size:
        target.unlink()
        raise InventoryReportError(
            f"{manifest_name}: data file {entry.key} has MD5 {digest.hexdigest()} and {size} "
            f"bytes; the manifest lists {entry.md5} and {entry.size} bytes"
        )


def _chunks(body: Any, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := body.read(size):
        yield chunk


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
