"""The run's fixity record: every object's version, size and checksum as verification read them,
with the instrument's own hash where it shipped one. Written to the catalogue bucket before the
run is COMPLETED (a completed run always has one), then joined into the run manifest and used as
the expected digests of the at-rest audit.

Kept in S3, not in the ledger: a 10,000-object run's record is about 2 MB, past DynamoDB's 400 KB
item limit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from ngs_lake.runs.fixity_checksums import NO_CHECKSUM, ObjectChecksum
from ngs_lake.runs.fixity_instrument import InstrumentCheck
from ngs_lake.runs.model import Run
from ngs_lake.runs.verification import Verification

RECORD_PREFIX = "fixity/runs/"
READ_BY = "ngs-lake verification (S3 GetObjectAttributes)"


class ObjectFixity(BaseModel):
    """One object version of the run, as verification found it."""

    model_config = ConfigDict(frozen=True)

    path: str
    key: str
    version_id: str | None
    size: int
    algorithm: str | None  # None: S3 holds no checksum for it (listed, not skipped)
    checksum: str | None  # base64, as S3 gives it
    checksum_type: str  # FULL_OBJECT | COMPOSITE | NONE
    instrument_sha256: str | None = None  # hex, as the instrument wrote it; "" = not hashed
    instrument_result: str | None = None  # matched | mismatch | not hashed by the instrument
    lake_sha256: str | None = None  # hex, what the lake computed or S3 gave
    lake_sha256_source: str | None = None

    @property
    def has_checksum(self) -> bool:
        return self.checksum_type != NO_CHECKSUM and bool(self.checksum)


class FixityRecord(BaseModel):
    run_key: str
    bucket: str
    verified_at: datetime
    verified_by: str = READ_BY
    instrument_hash_file: str | None = None
    objects: list[ObjectFixity]

    @property
    def without_checksum(self) -> list[str]:
        return [o.path for o in self.objects if not o.has_checksum]


def build_record(
    run_key: str,
    bucket: str,
    verified_at: datetime,
    checksums: dict[str, ObjectChecksum],
    checks: list[InstrumentCheck],
    hash_file: str | None,
) -> FixityRecord:
    by_path = {c.path: c for c in checks}
    objects = []
    for path in sorted(checksums):
        found = checksums[path]
        check = by_path.get(path)
        objects.append(
            ObjectFixity(
                path=path,
                key=found.key,
                version_id=found.version_id,
                size=found.size,
                algorithm=found.algorithm,
                checksum=found.value,
                checksum_type=found.checksum_type,
                instrument_sha256=check.instrument_sha256 if check else None,
                instrument_result=check.result if check else None,
                lake_sha256=check.lake_sha256 if check else None,
                lake_sha256_source=check.source if check else None,
            )
        )
    return FixityRecord(
        run_key=run_key,
        bucket=bucket,
        verified_at=verified_at,
        instrument_hash_file=hash_file,
        objects=objects,
    )


def record_key(run_key: str) -> str:
    return f"{RECORD_PREFIX}{run_key}.json"


class FixityRecordStore:
    """Where completed runs' fixity records live: the lake's catalogue bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def write_verified(self, run: Run, verification: Verification, verified_at: datetime) -> None:
        """The record of a verification that passed, as `complete` writes it."""
        self.write(
            build_record(
                run.run_key,
                run.bucket,
                verified_at,
                verification.checksums,
                verification.instrument,
                verification.hash_file,
            )
        )

    def write(self, record: FixityRecord) -> None:
        body = record.model_dump_json().encode()
        self.s3.put_object(Bucket=self.bucket, Key=record_key(record.run_key), Body=body)

    def read(self, run_key: str) -> FixityRecord | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=record_key(run_key))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return FixityRecord.model_validate(json.loads(body))
