"""The at-rest audit of one bucket: the day's sample of recorded object versions recomputed and
compared with the checksum their run's fixity record holds, and every recorded key checked for a
current version other than the recorded one.

Object Lock keeps the recorded version itself from being overwritten or deleted, so what changes
a file at rest is a new version on top of it (the break-glass role, or a writer with s3:PutObject):
consumers then read other bytes than the instrument wrote. That check costs one listing per run,
so it covers every recorded key every day; recomputing bytes is the sampled part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngs_lake.config.fixity_settings import FixitySettings
from ngs_lake.fixity.recompute import NotRecomputable, recompute_checksum
from ngs_lake.fixity.rotation import sample_for
from ngs_lake.runs.fixity_checksums import failure_of
from ngs_lake.runs.fixity_record import FixityRecord, ObjectFixity

PASSED = "passed"
MISMATCH = "mismatch"
CURRENT_DIFFERS = "current version differs"
NO_RECORDED_CHECKSUM = "no recorded checksum"
UNREADABLE = "unreadable"
NOT_RECOMPUTABLE = "not recomputable"
FAILURES = (MISMATCH, CURRENT_DIFFERS, UNREADABLE)
STREAMING = "ngs-lake fixity audit (streaming read)"

# (bucket, key, version id, algorithm, checksum type) -> base64 checksum; raises
# NotRecomputable, ClientError or BotoCoreError.
Recompute = Callable[[str, str, str | None, str, str], str]


@dataclass(frozen=True)
class AuditEntry:
    """One line of evidence: what was checked, against what, when, by what, with what result."""

    run_key: str
    bucket: str
    key: str
    version_id: str | None
    size: int
    algorithm: str | None
    checksum_type: str
    digest: str | None  # what the audit computed, base64
    expected: str | None  # the record's, base64
    expected_source: str
    current_version_id: str | None
    verified_at: datetime
    verified_by: str
    result: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.result in FAILURES

    @property
    def subject(self) -> str:
        return f"{self.bucket}/{self.key}"

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def streaming(s3: Any) -> Recompute:
    return lambda bucket, key, version, algorithm, kind: recompute_checksum(
        s3, bucket, key, version, algorithm, kind
    )


def current_versions(s3: Any, bucket: str, prefix: str) -> dict[str, str | None]:
    """key -> its current version id (a delete marker: None), under `prefix`."""
    current: dict[str, str | None] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            if version.get("IsLatest"):
                current[version["Key"]] = version.get("VersionId")
        for marker in page.get("DeleteMarkers", []):
            if marker.get("IsLatest"):
                current[marker["Key"]] = None
    return current


def _check(
    record: FixityRecord,
    item: ObjectFixity,
    version_id: str | None,
    recompute: Recompute,
    now: datetime,
    verified_by: str,
    current: str | None,
) -> AuditEntry:
    source = f"fixity record of {record.run_key}, verified {record.verified_at.isoformat()}"
    entry = dict(
        run_key=record.run_key,
        bucket=record.bucket,
        key=item.key,
        version_id=version_id,
        size=item.size,
        algorithm=item.algorithm,
        checksum_type=item.checksum_type,
        expected=item.checksum,
        expected_source=source,
        current_version_id=current,
        verified_at=now,
        verified_by=verified_by,
    )
    if not item.has_checksum or item.algorithm is None:
        return AuditEntry(**entry, digest=None, result=NO_RECORDED_CHECKSUM)
    try:
        found = recompute(record.bucket, item.key, version_id, item.algorithm, item.checksum_type)
    except NotRecomputable as exc:
        return AuditEntry(**entry, digest=None, result=NOT_RECOMPUTABLE, detail=str(exc))
    except (ClientError, BotoCoreError) as exc:
        return AuditEntry(**entry, digest=None, result=UNREADABLE, detail=failure_of(exc))
    result = PASSED if found == item.checksum else MISMATCH
    return AuditEntry(**entry, digest=found, result=result)


def audit_record(
    s3: Any,
    record: FixityRecord,
    day: date,
    settings: FixitySettings,
    recompute: Recompute,
    now: datetime,
    verified_by: str = STREAMING,
) -> tuple[list[AuditEntry], int]:
    """The entries of one run's audit on `day`, and the bytes the byte cap left for later."""
    prefix = record.objects[0].key[: -len(record.objects[0].path)] if record.objects else ""
    current = current_versions(s3, record.bucket, prefix) if prefix else {}
    items = [(o.key, o.size, o) for o in record.objects]
    sample = sample_for(day, record.bucket, items, settings)
    entries = [
        _check(record, o, o.version_id, recompute, now, verified_by, current.get(o.key))
        for o in sample.chosen
    ]
    for item in record.objects:
        now_version = current.get(item.key)
        if now_version == item.version_id:
            continue
        changed = _check(record, item, now_version, recompute, now, verified_by, now_version)
        detail = (
            f"recorded version {item.version_id}, current "
            f"{now_version or 'a delete marker'}; {changed.result}"
        )
        entries.append(
            AuditEntry(**{**changed.as_row(), "result": CURRENT_DIFFERS, "detail": detail})
        )
    return entries, sample.deferred_bytes


def audit_records(
    s3: Any,
    records: Iterable[FixityRecord],
    day: date,
    settings: FixitySettings,
    now: datetime,
    recompute: Recompute | None = None,
    verified_by: str = STREAMING,
) -> tuple[list[AuditEntry], int]:
    recompute = recompute or streaming(s3)
    entries: list[AuditEntry] = []
    deferred = 0
    for record in records:
        found, left = audit_record(s3, record, day, settings, recompute, now, verified_by)
        entries += found
        deferred += left
    return entries, deferred
