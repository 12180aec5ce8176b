"""Each object's checksum as S3 holds it: algorithm, value, and whether it covers the whole
object (FULL_OBJECT) or is a checksum of the parts' checksums (COMPOSITE).

One GetObjectAttributes per object (it also gives the version id and size, so the run's fixity
record needs no other call), on a bounded thread pool, stopped by the tick's deadline.
AWS rules the stand-in does not follow, which this code therefore decides itself
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html and
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html):
- a single-part upload's checksum is always a full-object one; moto leaves `ChecksumType` out
  for it, so an object without a multipart ETag (`<md5>-<parts>`) is FULL_OBJECT;
- a multipart upload's checksum is COMPOSITE unless S3 says FULL_OBJECT (CRC full-object
  multipart uploads, since December 2024); AWS may write a composite value as `<b64>-<parts>`;
- since December 2024 S3 stores a CRC64NVME for every new object sent without a checksum, but
  moto stores none, and older objects may have none: such an object is recorded as having no
  checksum ("NONE"), never skipped and never taken for a match.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock

FULL_OBJECT = "FULL_OBJECT"
COMPOSITE = "COMPOSITE"
NO_CHECKSUM = "NONE"
# GetObjectAttributes' Checksum members, strongest first: the one reported is the one stored.
ALGORITHMS = ("SHA256", "SHA1", "CRC64NVME", "CRC32C", "CRC32")
# botocore's default connection pool holds 10 connections; more threads only queue on it.
PARALLEL_READS = 10


class ChecksumReadOverBudget(Exception):
    """The checksums were not all read by the deadline: the run is verified by a Dagster run."""


@dataclass(frozen=True)
class ObjectChecksum:
    """One object version's checksum as S3 reports it; `algorithm` None when it has none."""

    key: str
    version_id: str | None
    size: int
    algorithm: str | None
    value: str | None  # base64, as S3 gives it, without a composite's `-<parts>`
    checksum_type: str  # FULL_OBJECT | COMPOSITE | NONE

    @property
    def full_sha256_hex(self) -> str | None:
        """The object's own sha256 in hex (as instruments write it), only when S3 holds a
        FULL_OBJECT SHA-256: a composite one is a digest of part digests, never the file's."""
        if self.algorithm != "SHA256" or self.checksum_type != FULL_OBJECT or not self.value:
            return None
        try:
            return base64.b64decode(self.value, validate=True).hex()
        except (binascii.Error, ValueError):
            return None


def checksum_from_attributes(key: str, answer: Mapping[str, Any]) -> ObjectChecksum:
    """A GetObjectAttributes answer (Checksum, ObjectSize, ETag, VersionId) read by AWS's rules."""
    found = answer.get("Checksum") or {}
    algorithm = next((a for a in ALGORITHMS if found.get(f"Checksum{a}")), None)
    size = int(answer.get("ObjectSize", 0))
    version = answer.get("VersionId")
    if algorithm is None:
        return ObjectChecksum(key, version, size, None, None, NO_CHECKSUM)
    value, _, parts = str(found[f"Checksum{algorithm}"]).partition("-")
    multipart = "-" in str(answer.get("ETag", "")).strip('"') or bool(parts)
    stated = found.get("ChecksumType")
    kind = stated if stated in (FULL_OBJECT, COMPOSITE) else COMPOSITE if multipart else FULL_OBJECT
    return ObjectChecksum(key, version, size, algorithm, value, kind)


def read_checksum(s3: Any, bucket: str, key: str, version_id: str | None = None) -> ObjectChecksum:
    """One GetObjectAttributes: the version's checksum, size and version id."""
    versioned = {"VersionId": version_id} if version_id else {}
    answer = s3.get_object_attributes(
        Bucket=bucket,
        Key=key,
        ObjectAttributes=["Checksum", "ObjectSize", "ETag"],
        **versioned,
    )
    return checksum_from_attributes(key, answer)


@dataclass
class ChecksumReads:
    checksums: dict[str, ObjectChecksum]
    errors: dict[str, str]  # name -> what S3 or botocore answered


def read_checksums(
    s3: Any,
    bucket: str,
    keys: Mapping[str, str],
    deadline: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
    parallel: int = PARALLEL_READS,
) -> ChecksumReads:
    """The checksums of `keys` ({name: S3 key}), at most `parallel` calls at a time and one
    call per object; a call S3 refused is in `errors`. ChecksumReadOverBudget once `deadline`
    (clock.monotonic) passes; calls not yet started are cancelled."""
    reads = ChecksumReads({}, {})
    if not keys:
        return reads
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(keys)))) as pool:
        pending: dict[Future[ObjectChecksum], str] = {
            pool.submit(read_checksum, s3, bucket, key): name for name, key in keys.items()
        }
        try:
            while pending:
                done, _ = wait(pending, timeout=_left(deadline, clock), return_when=FIRST_COMPLETED)
                for future in done:
                    name = pending.pop(future)
                    try:
                        reads.checksums[name] = future.result()
                    except (ClientError, BotoCoreError) as exc:
                        reads.errors[name] = failure_of(exc)
                if pending and deadline is not None and clock.monotonic() >= deadline:
                    raise ChecksumReadOverBudget(
                        f"{len(pending)} of {len(keys)} checksums not read within the budget"
                    )
        finally:
            for future in pending:
                future.cancel()
    return reads


def failure_of(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')} ({error.get('Message', '')})"
    return f"{type(exc).__name__} ({exc})"


def _left(deadline: float | None, clock: Clock) -> float | None:
    return None if deadline is None else max(0.0, deadline - clock.monotonic())
