"""S3 Batch Operations compute-checksum jobs, created by the lake and read back from their
completion reports: how the audit recomputes checksums at rest on AWS without downloading
(or restoring) the objects (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-compute-checksums.html).

The lake writes the job's manifest (CSV `bucket,key,version id`, keys URL-encoded:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-create-job.html), creates the job
with its own ClientRequestToken (so a retried CreateJob makes no second job), and once
DescribeJob says Complete reads the report's `manifest.json` and the result CSVs it lists
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html).

Each result row of a Compute checksum job is, as AWS's example on that page shows it:
`bucket,key,version,succeeded,200,,"{""checksum_base64"":""bS9TOQ\\u003d\\u003d"",""etag"":...,
""checksumAlgorithm"":""CRC32"",""checksumType"":""FULL_OBJECT"",""checksum_hex"":""6D2F5339""}"`:
the ResultMessage is JSON, the value in base64 and in upper-case hex. A failed row is
`...,failed,200,PermanentFailure,"error details: {""failureMessage"":...,""errorCode"": ""404""}"`.
The page's ReportSchema line says `TaskStatus, ErrorCode, HTTPStatusCode`, but its example rows put
the HTTP status before the error code; the parser takes whichever of the two is a number as the
status, so either order reads the same.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

REPORT_FORMAT = "Report_CSV_20180820"
DONE = ("Complete", "Failed", "Cancelled")


@dataclass(frozen=True)
class ChecksumTask:
    bucket: str
    key: str
    version_id: str | None


@dataclass(frozen=True)
class ComputedChecksum:
    """One task's row of a completion report."""

    bucket: str
    key: str
    version_id: str | None
    succeeded: bool
    checksum_base64: str | None
    algorithm: str | None
    checksum_type: str | None
    error: str | None


def manifest_fields(tasks: list[ChecksumTask]) -> list[str]:
    """`VersionId` is a manifest field only when every task names a version: "If your manifest
    includes a version ID field, you must provide a version ID for all objects in the manifest"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-compute-checksums.html)."""
    versioned = [t for t in tasks if t.version_id]
    if versioned and len(versioned) != len(tasks):
        unversioned = next(t for t in tasks if not t.version_id)
        raise ValueError(
            f"a compute-checksum job's tasks must all name a version or none: "
            f"s3://{unversioned.bucket}/{unversioned.key} names none"
        )
    return ["Bucket", "Key", "VersionId"] if versioned else ["Bucket", "Key"]


def manifest_csv(tasks: list[ChecksumTask]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    versioned = len(manifest_fields(tasks)) == 3
    for task in tasks:
        row = [task.bucket, quote_plus(task.key, safe="/")]
        writer.writerow([*row, task.version_id] if versioned else row)
    return text.getvalue().encode()


def create_checksum_job(
    s3control: Any,
    s3: Any,
    account_id: str,
    role_arn: str,
    report_bucket: str,
    prefix: str,
    tasks: list[ChecksumTask],
    algorithm: str,
    checksum_type: str,
    token: str,
) -> str:
    """The job's id; its manifest is written under `<prefix>/manifests/<token>.csv` first."""
    fields = manifest_fields(tasks)
    key = f"{prefix}/manifests/{token}.csv"
    etag = s3.put_object(Bucket=report_bucket, Key=key, Body=manifest_csv(tasks))["ETag"]
    answer = s3control.create_job(
        AccountId=account_id,
        ConfirmationRequired=False,
        Operation={
            "S3ComputeObjectChecksum": {
                "ChecksumAlgorithm": algorithm,
                "ChecksumType": checksum_type,
            }
        },
        Manifest={
            "Spec": {
                "Format": "S3BatchOperations_CSV_20180820",
                "Fields": fields,
            },
            "Location": {"ObjectArn": f"arn:aws:s3:::{report_bucket}/{key}", "ETag": etag},
        },
        Report={
            "Bucket": f"arn:aws:s3:::{report_bucket}",
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "Prefix": f"{prefix}/reports",
            "ReportScope": "AllTasks",
            # "you must use the bucket owner condition" for the report's bucket, or the job
            # fails (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-compute-checksums.html)
            "ExpectedBucketOwner": account_id,
        },
        Priority=10,
        RoleArn=role_arn,
        ClientRequestToken=token,
        Description=f"ngs-lake fixity audit {token}",
    )
    return str(answer["JobId"])


def job_status(s3control: Any, account_id: str, job_id: str) -> tuple[str, list[str]]:
    """(Status, failure reasons) as DescribeJob gives them."""
    job = s3control.describe_job(AccountId=account_id, JobId=job_id)["Job"]
    reasons = [
        f"{r.get('FailureCode', '')}: {r.get('FailureReason', '')}"
        for r in job.get("FailureReasons", [])
    ]
    return str(job["Status"]), reasons


def read_completion_report(
    s3: Any, report_bucket: str, prefix: str, job_id: str
) -> list[ComputedChecksum]:
    """Every task's row, from the report manifest's listed result files."""
    base = f"{prefix}/reports/job-{job_id}"
    manifest = json.loads(
        s3.get_object(Bucket=report_bucket, Key=f"{base}/manifest.json")["Body"].read()
    )
    if manifest.get("Format") != REPORT_FORMAT:
        raise ValueError(
            f"{base}/manifest.json: format {manifest.get('Format')!r}, not {REPORT_FORMAT}"
        )
    rows: list[ComputedChecksum] = []
    for result in manifest.get("Results", []):
        body = s3.get_object(Bucket=result["Bucket"], Key=result["Key"])["Body"].read().decode()
        rows += parse_report_rows(body)
    return rows


def parse_report_rows(body: str) -> list[ComputedChecksum]:
    """The rows of one result CSV; a row with fewer than AWS's seven columns is not a task."""
    return [_row(row) for row in csv.reader(io.StringIO(body)) if len(row) >= 7]


def _row(row: list[str]) -> ComputedChecksum:
    bucket, key, version, status, fifth, sixth = row[:6]
    # AWS's own failure example has a stray quote that splits its message at a comma: rejoin it.
    message = ",".join(row[6:])
    http, code = (fifth, sixth) if fifth.isdigit() or not sixth.isdigit() else (sixth, fifth)
    succeeded = status == "succeeded"
    found: dict[str, Any] = {}
    if succeeded:
        found, problem = _checksum_message(message)
        if problem:
            succeeded, code = False, problem
    return ComputedChecksum(
        bucket=bucket,
        key=unquote_plus(key),
        version_id=version or None,
        succeeded=succeeded,
        checksum_base64=found.get("checksum_base64") if succeeded else None,
        algorithm=found.get("checksumAlgorithm"),
        checksum_type=found.get("checksumType"),
        error=None if succeeded else f"{code} (HTTP {http}) {message}".strip(),
    )


def _checksum_message(message: str) -> tuple[dict[str, Any], str]:
    """The ResultMessage's JSON, and why it cannot be used ("" when it can): a value whose base64
    and hex forms disagree is not trusted as either."""
    try:
        found = json.loads(message)
        value = base64.b64decode(found["checksum_base64"], validate=True)
    except (KeyError, TypeError, ValueError):  # JSONDecodeError and binascii.Error are ValueErrors
        return {}, f"unreadable ResultMessage {message[:80]!r}"
    hex_form = str(found.get("checksum_hex") or value.hex())
    if hex_form.lower() != value.hex():
        return found, f"ResultMessage checksum_base64 {value.hex()} != checksum_hex {hex_form}"
    return found, ""
