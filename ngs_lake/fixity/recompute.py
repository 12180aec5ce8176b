"""Recomputing an object version's checksum from its bytes, as S3 computed it at upload: a full
object digest, or for a COMPOSITE checksum the digest of its parts' digests, each part read with
`GetObject partNumber=n` (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
The result is base64, S3's form, so it compares with the recorded value as it is.

The algorithms Python computes itself (SHA-256, SHA-1, CRC32 full-object); for the others
(CRC64NVME, CRC32C) an S3 Batch Operations job does it on AWS (`recompute: batch_operations`).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

CHUNK = 8 * 1024 * 1024
HASHES = {"SHA256": hashlib.sha256, "SHA1": hashlib.sha1}


class NotRecomputable(Exception):
    """An algorithm or type this process cannot compute; the audit says so, never passes it."""


def _stream(body: Any, update: Any) -> None:
    try:
        for chunk in body.iter_chunks(CHUNK):
            update(chunk)
    finally:
        body.close()


def _full(s3: Any, bucket: str, key: str, version: dict[str, str], algorithm: str) -> bytes:
    body = s3.get_object(Bucket=bucket, Key=key, **version)["Body"]
    if algorithm == "CRC32":
        crc = 0

        def update(chunk: bytes) -> None:
            nonlocal crc
            crc = zlib.crc32(chunk, crc)

        _stream(body, update)
        return crc.to_bytes(4, "big")
    digest = HASHES[algorithm]()
    _stream(body, digest.update)
    return digest.digest()


def recompute_checksum(
    s3: Any, bucket: str, key: str, version_id: str | None, algorithm: str, checksum_type: str
) -> str:
    """The version's checksum (base64) by `algorithm` and `checksum_type`."""
    version = {"VersionId": version_id} if version_id else {}
    if checksum_type == "FULL_OBJECT" and (algorithm in HASHES or algorithm == "CRC32"):
        return base64.b64encode(_full(s3, bucket, key, version, algorithm)).decode()
    if checksum_type != "COMPOSITE" or algorithm not in HASHES:
        raise NotRecomputable(f"{algorithm} {checksum_type} is not computed by a streaming read")
    parts = int(
        s3.head_object(Bucket=bucket, Key=key, PartNumber=1, **version).get("PartsCount") or 1
    )
    outer = HASHES[algorithm]()
    for number in range(1, parts + 1):
        inner = HASHES[algorithm]()
        body = s3.get_object(Bucket=bucket, Key=key, PartNumber=number, **version)["Body"]
        _stream(body, inner.update)
        outer.update(inner.digest())
    return base64.b64encode(outer.digest()).decode()
