"""Where the audit's results go: the WORM evidence, the catalogue's `fixity` table, and the
mismatches still open (what the `fixity_mismatch` alert reads).

The evidence bucket has Object Lock in COMPLIANCE mode with the lake's retention (provisioned
with the lake), so a report, once written, outlives any operator's wish to amend it, as the data
it speaks for does. Reports are CSV, one per run and pass, under `runs/<run key>/`: the
verification's (the run's fixity record, written at its first audit) and each audit's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ngs_lake.fixity.audit import PASSED, AuditEntry
from ngs_lake.runs.fixity_record import FixityRecord

COLUMNS = (
    "run_key",
    "key",
    "version_id",
    "size",
    "algorithm",
    "checksum_type",
    "digest",
    "expected",
    "expected_source",
    "verified_at",
    "verified_by",
    "result",
    "detail",
)
OPEN_MISMATCHES = "fixity/audit/open-mismatches.json"
FIXITY_TABLE = "catalog/fixity"


def _csv(rows: Iterable[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    return text.getvalue().encode()


def verification_rows(record: FixityRecord) -> list[dict[str, Any]]:
    """The record as evidence: each object's checksum as verification read it from S3, and the
    instrument's hash where one was compared."""
    rows = []
    for o in record.objects:
        instrument = (
            f"; instrument sha256 {o.instrument_sha256 or '(empty)'}: {o.instrument_result}"
            if o.instrument_result
            else ""
        )
        rows.append(
            {
                "run_key": record.run_key,
                "key": o.key,
                "version_id": o.version_id,
                "size": o.size,
                "algorithm": o.algorithm,
                "checksum_type": o.checksum_type,
                "digest": o.checksum,
                "expected": o.instrument_sha256,
                "expected_source": record.instrument_hash_file or "",
                "verified_at": record.verified_at.isoformat(),
                "verified_by": record.verified_by,
                "result": "recorded" if o.has_checksum else "no checksum in S3",
                "detail": f"lake sha256 {o.lake_sha256}{instrument}"
                if o.lake_sha256
                else instrument,
            }
        )
    return rows


class EvidenceStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _put(self, key: str, body: bytes) -> None:
        # Object Lock buckets refuse a put without a checksum or Content-MD5
        # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html).
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")

    def has_verification(self, run_key: str) -> bool:
        listed = self.s3.list_objects_v2(
            Bucket=self.bucket, Prefix=f"runs/{run_key}/verification.csv", MaxKeys=1
        )
        return bool(listed.get("KeyCount"))

    def write_verification(self, record: FixityRecord) -> None:
        self._put(f"runs/{record.run_key}/verification.csv", _csv(verification_rows(record)))

    def write_audit(self, run_key: str, at: datetime, entries: list[AuditEntry]) -> str:
        key = f"runs/{run_key}/audit-{at.strftime('%Y%m%dT%H%M%SZ')}.csv"
        self._put(
            key, _csv(e.as_row() | {"verified_at": e.verified_at.isoformat()} for e in entries)
        )
        return key

    def reports(self, run_key: str) -> list[tuple[str, list[dict[str, str]]]]:
        """(key, rows) of each report of the run, oldest first (verification, then audits)."""
        found = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"runs/{run_key}/"):
            found += [item["Key"] for item in page.get("Contents", [])]
        found.sort(key=lambda k: (not k.endswith("verification.csv"), k))
        out = []
        for key in found:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
            out.append((key, list(csv.DictReader(io.StringIO(body)))))
        return out


def write_fixity_table(
    s3: Any, catalog_bucket: str, day: date, bucket: str, entries: list[AuditEntry]
) -> str:
    """The day's entries for one bucket as the catalogue's `fixity` table (Hive-partitioned by
    `audit_date`), read by `ngs-lake catalog query`."""
    rows = [e.as_row() for e in entries]
    columns = {c: [r[c] for r in rows] for c in AuditEntry.__dataclass_fields__}
    columns["verified_at"] = [r["verified_at"].isoformat() for r in rows]
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    key = f"{FIXITY_TABLE}/audit_date={day.isoformat()}/{bucket}.parquet"
    s3.put_object(Bucket=catalog_bucket, Key=key, Body=buffer.getvalue())
    return key


class OpenMismatches:
    """{subject: {began_at, run_key, summary}}: a failure stays open until an audit of the same
    key passes with its recorded version current, so a rotation that moves on resolves nothing."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def read(self) -> dict[str, dict[str, str]]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=OPEN_MISMATCHES)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return {}
        return dict(json.loads(body))

    def update(self, entries: list[AuditEntry]) -> dict[str, dict[str, str]]:
        open_now = self.read()
        failed = {e.subject: e for e in entries if e.failed}
        for entry in entries:
            if entry.result == PASSED and entry.subject not in failed:
                open_now.pop(entry.subject, None)
        for subject, entry in failed.items():
            summary = (
                f"{entry.key} ({entry.run_key}): {entry.result}; expected {entry.expected}, "
                f"found {entry.digest}" + (f"; {entry.detail}" if entry.detail else "")
            )
            began = open_now.get(subject, {}).get("began_at", entry.verified_at.isoformat())
            open_now[subject] = {"began_at": began, "run_key": entry.run_key, "summary": summary}
        body = json.dumps(open_now, sort_keys=True).encode()
        self.s3.put_object(Bucket=self.bucket, Key=OPEN_MISMATCHES, Body=body)
        return open_now
