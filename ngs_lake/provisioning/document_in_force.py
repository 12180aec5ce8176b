"""The document in force: the file on disk when it is valid, else the last valid one the lake
recorded, so a typo saved into `config/lake.yaml` never stops ingest, verification,
announcements or alerts.

The record is one object in the catalogue bucket, `lake-config/in-force.json` (the text and its
SHA-256), so it survives a restart of the daemon and the code server; the bucket is versioned,
so every document ever in force stays readable.

Where the record is must not depend on the file, which may be anything: the deployment names the
catalogue bucket in `NGS_LAKE_CATALOG_BUCKET` (each process's environment: an ECS task
definition, a Helm value, the local stack), which survives every restart and is read before the
file. A copy beside DAGSTER_HOME would not do: on ECS and Kubernetes the daemon's and the code
server's file systems are new with each task or pod, and the sensors run in the code server.
Without the variable, the bucket is read from what of an invalid file still parses, else from
the last valid document this process loaded; a valid document naming another bucket than the
variable is refused, so the record is never written in one place and looked for in another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError

from ngs_lake.config.document import parse_lake_text
from ngs_lake.config.model import BucketName, LakeConfig, LakeConfigError, LakeSettings

log = logging.getLogger(__name__)

RECORD_KEY = "lake-config/in-force.json"
RECORD_SCHEMA = "ngs-lake/document-in-force/v1"
CATALOG_BUCKET_ENV = "NGS_LAKE_CATALOG_BUCKET"

S3ForRegion = Callable[[str], Any]  # region -> a boto3 S3 client


@dataclass(frozen=True)
class DocumentInForce:
    """The document the lake runs on, and what is wrong with the file when it is not that file."""

    document: LakeConfig
    sha256: str  # of the document in force
    path: str  # the file
    problems: tuple[str, ...] = ()  # the file's; empty when the file is in force
    file_sha256: str | None = None
    saved_at: datetime | None = None  # the file's modification time

    @property
    def falls_back(self) -> bool:
        return bool(self.problems)

    def status_line(self) -> str:
        """One line for `ngs-lake status`."""
        if not self.falls_back:
            return f"config: {self.path} in force (sha256 {self.sha256[:12]})"
        return (
            f"config: {self.path} is INVALID ({len(self.problems)} problem(s): "
            f"{'; '.join(self.problems)}); the lake runs on the recorded document sha256 "
            f"{self.sha256}; fix the file (`ngs-lake config validate`)"
        )


@dataclass(frozen=True)
class RecordAddress:
    bucket: str
    region: str


class DocumentRecord:
    """`s3://<catalogue bucket>/lake-config/in-force.json`: the last valid document."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def read(self) -> tuple[str, str] | None:
        """(text, sha256), or None when nothing is recorded; a record whose text does not match
        its digest is refused."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=RECORD_KEY)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        record = json.loads(body)
        text, digest = record["text"], record["sha256"]
        if hashlib.sha256(text.encode()).hexdigest() != digest:
            raise LakeConfigError(
                [f"s3://{self.bucket}/{RECORD_KEY}: its text does not match its sha256 {digest}"]
            )
        return text, digest

    def write(self, text: str, digest: str, path: str, now: datetime) -> None:
        body = {
            "schema": RECORD_SCHEMA,
            "sha256": digest,
            "text": text,
            "path": path,
            "recorded_at": now.isoformat(),
        }
        self.s3.put_object(
            Bucket=self.bucket,
            Key=RECORD_KEY,
            Body=json.dumps(body).encode(),
            ContentType="application/json",
        )


# What this process last recorded (bucket -> digest), so a valid document is written once, not
# on every tick; and where the last valid document's record is, for a file that no longer says.
_recorded: dict[str, str] = {}
_last_address: list[RecordAddress] = []


def forget_process_state() -> None:
    """What a restart loses: this process's memory of the record (for a simulation that plays a
    daemon or code server restarting; the record itself is in S3)."""
    _recorded.clear()
    _last_address.clear()


def deployed_record_address(environ: Mapping[str, str] | None = None) -> RecordAddress | None:
    """The record's bucket as the deployment names it (`NGS_LAKE_CATALOG_BUCKET`), in the
    process's AWS region; None when the variable is unset."""
    env = os.environ if environ is None else environ
    bucket = env.get(CATALOG_BUCKET_ENV, "").strip()
    if not bucket:
        return None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    return RecordAddress(bucket, region or LakeSettings.model_fields["region"].default)


def load_document_in_force(
    path: str | Path,
    s3_for: S3ForRegion,
    target: str | None = None,
    record: bool = True,
    environ: Mapping[str, str] | None = None,
) -> DocumentInForce:
    """The document in force (module docstring). A valid file is recorded (`record`) when it is
    new; an invalid one falls back on the record, and raises `LakeConfigError` with the file's
    problems and why no record could be read only when there is none. `environ` (default: the
    process's) holds the deployment's `NGS_LAKE_CATALOG_BUCKET`."""
    path = Path(path)
    deployed = deployed_record_address(environ)
    try:
        data = path.read_bytes()
    except OSError as exc:
        data, problems = b"", [f"cannot read {path}: {exc.strerror}"]
    else:
        try:
            document = parse_lake_text(data, str(path), target)
            _check_deployed_bucket(document, deployed)
        except LakeConfigError as exc:
            problems = exc.problems
        else:
            digest = hashlib.sha256(data).hexdigest()
            address = RecordAddress(document.lake.catalog_bucket, document.lake.region)
            _last_address[:] = [address]
            if record and _recorded.get(address.bucket) != digest:
                _record(DocumentRecord(s3_for(address.region), address.bucket), data, digest, path)
            return DocumentInForce(document, digest, str(path), (), digest)
    return _fall_back(path, data, problems, s3_for, target, deployed)


def _check_deployed_bucket(document: LakeConfig, deployed: RecordAddress | None) -> None:
    if deployed is not None and deployed.bucket != document.lake.catalog_bucket:
        raise LakeConfigError(
            [
                f"lake.catalog_bucket: {document.lake.catalog_bucket!r} is not the bucket this "
                f"deployment records the document in ({CATALOG_BUCKET_ENV}={deployed.bucket!r}); "
                f"change both together"
            ]
        )


def _record(record: DocumentRecord, data: bytes, digest: str, path: Path) -> None:
    """Write the document unless it is the one recorded. A lake not provisioned yet has no
    catalogue bucket: the file is in force and valid, so this is logged, not raised."""
    try:
        held = record.read()
        if held is None or held[1] != digest:
            record.write(data.decode(), digest, str(path), datetime.now(UTC))
        _recorded[record.bucket] = digest
    except (ClientError, BotoCoreError, LakeConfigError) as exc:
        log.warning("the valid document %s is not recorded in %s yet: %s", path, record.bucket, exc)


def _fall_back(
    path: Path,
    data: bytes,
    problems: list[str],
    s3_for: S3ForRegion,
    target: str | None,
    deployed: RecordAddress | None,
) -> DocumentInForce:
    address = deployed or record_address(data) or (_last_address[0] if _last_address else None)
    if address is None:
        raise LakeConfigError(
            [
                *problems,
                f"no document to fall back on: {CATALOG_BUCKET_ENV} is not set, the file names "
                "no readable lake.catalog_bucket, and this process has loaded no valid document",
            ],
            str(path),
        )
    where = f"s3://{address.bucket}/{RECORD_KEY}"
    try:
        held = DocumentRecord(s3_for(address.region), address.bucket).read()
    except (ClientError, BotoCoreError) as exc:
        raise LakeConfigError([*problems, f"cannot read {where}: {exc}"], str(path)) from None
    if held is None:
        raise LakeConfigError([*problems, f"no valid document is recorded in {where}"], str(path))
    text, digest = held
    document = parse_lake_text(text.encode(), where, target)
    return DocumentInForce(
        document,
        digest,
        str(path),
        tuple(problems),
        hashlib.sha256(data).hexdigest() if data else None,
        _modified_at(path),
    )


def record_address(data: bytes) -> RecordAddress | None:
    """The catalogue bucket and region from what of an invalid document still parses."""
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return None
    lake = raw.get("lake") if isinstance(raw, dict) else None
    if not isinstance(lake, dict):
        return None
    region = lake.get("region", LakeSettings.model_fields["region"].default)
    try:
        bucket = TypeAdapter(BucketName).validate_python(lake.get("catalog_bucket"))
    except ValidationError:
        return None
    return RecordAddress(bucket, region) if isinstance(region, str) else None


def _modified_at(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None
