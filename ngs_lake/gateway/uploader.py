"""Putting one settled file into its share's bucket, with an S3 additional checksum (SHA-256) and
the share's encryption settings.

Small files go in one PutObject; large ones as a multipart upload whose parts carry their own
checksums (S3 then reports a composite checksum). Either way S3 verifies the bytes it stored.
The lake's bucket policy denies a PutObject without SSE-KMS, so the share's EncryptionType and
KMSKey go with PutObject and CreateMultipartUpload; S3 encrypts every part under the upload's
settings, and UploadPart takes no SSE-KMS arguments of its own.
"""

from __future__ import annotations

import base64
import hashlib
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Uploaded:
    version_id: str | None
    checksum: str | None
    size: int


# CreateSMBFileShare's EncryptionType -> S3's x-amz-server-side-encryption.
_SERVER_SIDE_ENCRYPTION = {"SseS3": "AES256", "SseKms": "aws:kms", "DsseKms": "aws:kms:dsse"}


def encryption_arguments(share_info: dict[str, Any]) -> dict[str, str]:
    """The S3 arguments for a share's encryption: EncryptionType (SseS3 when absent, as on AWS;
    the older KMSEncrypted=true means SseKms) and, under KMS, its KMSKey."""
    kind = share_info.get("EncryptionType") or (
        "SseKms" if share_info.get("KMSEncrypted") else "SseS3"
    )
    arguments = {"ServerSideEncryption": _SERVER_SIDE_ENCRYPTION[kind]}
    if kind != "SseS3" and share_info.get("KMSKey"):
        arguments["SSEKMSKeyId"] = share_info["KMSKey"]
    return arguments


def upload_file(s3: Any, path: Path, bucket: str, key: str, encryption: dict[str, str]) -> Uploaded:
    size = path.stat().st_size
    if size < MULTIPART_THRESHOLD:
        with path.open("rb") as body:
            answer = s3.put_object(
                Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256", **encryption
            )
        return Uploaded(answer.get("VersionId"), answer.get("ChecksumSHA256"), size)
    return _multipart(s3, path, bucket, key, size, encryption)


def upload_folder(s3: Any, bucket: str, key: str, encryption: dict[str, str]) -> Uploaded:
    """A folder is a zero-byte object whose key ends with `/`, as the appliance writes it."""
    answer = s3.put_object(
        Bucket=bucket, Key=key, Body=b"", ChecksumAlgorithm="SHA256", **encryption
    )
    return Uploaded(answer.get("VersionId"), answer.get("ChecksumSHA256"), 0)


def _multipart(
    s3: Any, path: Path, bucket: str, key: str, size: int, encryption: dict[str, str]
) -> Uploaded:
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **encryption
    )["UploadId"]
    try:
        parts = []
        with path.open("rb") as source:
            number = 1
            while chunk := source.read(PART_SIZE):
                answer = s3.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumAlgorithm="SHA256",
                )
                parts.append(
                    {
                        "PartNumber": number,
                        "ETag": answer["ETag"],
                        "ChecksumSHA256": answer.get("ChecksumSHA256")
                        or base64.b64encode(hashlib.sha256(chunk).digest()).decode(),
                    }
                )
                number += 1
        answer = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except (BotoCoreError, ClientError, OSError):
        # Best effort: the bucket's lifecycle rule aborts what this cannot.
        with suppress(BotoCoreError, ClientError):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return Uploaded(answer.get("VersionId"), answer.get("ChecksumSHA256"), size)


def sha256_base64(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()
