"""The instrument's own hashes (ONT `output_hash_*.csv`: a sha256 per file) against the lake's
bytes.

S3's SHA-256 answers only when it is a FULL_OBJECT checksum: the gateway uploads files of 16 MiB
or more in parts, and their COMPOSITE SHA-256 is a digest of part digests that never equals the
file's sha256 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
S3 gives it in base64, ONT in hex. Any other object (composite, another algorithm, or none at
all) is read back and hashed here, as a stream of the very version the record names.
A file the instrument listed with an empty hash (MinKNOW leaves POD5 batches unhashed) is
"not hashed by the instrument": recorded, never a pass and never a failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.fixity_checksums import ChecksumReadOverBudget, ObjectChecksum, failure_of

MATCHED = "matched"
MISMATCH = "mismatch"
MISSING = "missing"  # listed by the instrument, not in S3
UNREADABLE = "unreadable"  # S3 refused the read that would have checked it
NOT_HASHED = "not hashed by the instrument"
SOURCE_S3 = "S3 FULL_OBJECT SHA-256"
SOURCE_STREAM = "sha256 of a streaming read"
STREAM_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class InstrumentCheck:
    """One file the instrument hashed, and what the lake found."""

    path: str
    instrument_sha256: str  # hex, "" when the instrument left it empty
    lake_sha256: str | None  # hex; None when not computed (missing, or not hashed)
    source: str | None  # SOURCE_S3 | SOURCE_STREAM
    result: str  # MATCHED | MISMATCH | MISSING | NOT_HASHED

    error: str | None = None  # what S3 answered, for UNREADABLE

    @property
    def failed(self) -> bool:
        return self.result in (MISMATCH, MISSING, UNREADABLE)

    def reason(self, hash_file: str) -> str:
        if self.result == UNREADABLE:
            return f"{self.path} could not be read to check its sha256: {self.error}"
        if self.result == MISSING:
            return (
                f"{self.path}: listed in {hash_file} with sha256 {self.instrument_sha256} "
                "but not in S3"
            )
        return (
            f"{self.path}: sha256 {self.lake_sha256} in S3 ({self.source}) but "
            f"{self.instrument_sha256} in {hash_file}"
        )


def stream_sha256(
    s3: Any,
    bucket: str,
    key: str,
    version_id: str | None,
    deadline: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> str:
    """The sha256 (hex) of one object version, read in chunks; over the deadline, stopped."""
    versioned = {"VersionId": version_id} if version_id else {}
    body = s3.get_object(Bucket=bucket, Key=key, **versioned)["Body"]
    digest = hashlib.sha256()
    try:
        for chunk in body.iter_chunks(STREAM_CHUNK):
            digest.update(chunk)
            if deadline is not None and clock.monotonic() >= deadline:
                raise ChecksumReadOverBudget(f"{key}: streaming read not done within the budget")
    finally:
        body.close()
    return digest.hexdigest()


def check_instrument_hashes(
    s3: Any,
    bucket: str,
    hashes: Mapping[str, str],
    checksums: Mapping[str, ObjectChecksum],
    deadline: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> list[InstrumentCheck]:
    """Every file in `hashes` ({path: sha256 hex}) checked against `checksums` ({path: the
    object's checksum}): S3's full-object SHA-256 where it has one, else a streaming read."""
    checks = []
    for path in sorted(hashes):
        expected = hashes[path].strip().lower()
        found = checksums.get(path)
        if found is None:
            checks.append(InstrumentCheck(path, expected, None, None, MISSING))
            continue
        if not expected:
            checks.append(InstrumentCheck(path, "", None, None, NOT_HASHED))
            continue
        lake, source = found.full_sha256_hex, SOURCE_S3
        if lake is None:
            source = SOURCE_STREAM
            try:
                lake = stream_sha256(s3, bucket, found.key, found.version_id, deadline, clock)
            except (ClientError, BotoCoreError) as exc:  # fail closed, naming the file
                checks.append(
                    InstrumentCheck(path, expected, None, source, UNREADABLE, failure_of(exc))
                )
                continue
        result = MATCHED if lake == expected else MISMATCH
        checks.append(InstrumentCheck(path, expected, lake, source, result))
    return checks
