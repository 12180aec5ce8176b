"""S3 Batch Operations compute-checksum jobs, created by the lake and read back from their
completion reports: how the audit recomputes checksums at rest on AWS without downloading
(or restoring) the objects (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-compute-checksums.html).

The lake writes the job's manifest (CSV `bucket,key,version id`, keys URL-encoded:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-create-job.html), creates the job
with its own ClientRequestToken (so a retried CreateJob makes no second job), and once
DescribeJob says Complete reads the report's `manifest.json` and the result CSVs it lists
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html).
"""

from __future__ import annotations

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


def manifest_csv(tasks: list[ChecksumTask]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for task in tasks:
        writer.writerow([task.bucket, quote_plus(task.key, safe="/"), task.version_id or ""])
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
                "Fields": ["Bucket", "Key", "VersionId"],
            },
            "Location": {"ObjectArn": f"arn:aws:s3:::{report_bucket}/{key}", "ETag": etag},
        },
        Report={
            "Bucket": f"arn:aws:s3:::{report_bucket}",
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "Prefix": f"{prefix}/reports",
            "ReportScope": "AllTasks",
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
        for row in csv.reader(io.StringIO(body)):
            if len(row) >= 7:
                rows.append(_row(row))
    return rows


def _row(row: list[str]) -> ComputedChecksum:
    bucket, key, version, status, code, _http, message = row[:7]
    succeeded = status == "succeeded"
    found: dict[str, Any] = {}
    if succeeded:
        try:
            found = json.loads(message)
        except json.JSONDecodeError:
            succeeded, code = False, f"unreadable ResultMessage {message[:80]!r}"
    return ComputedChecksum(
        bucket=bucket,
        key=unquote_plus(key),
        version_id=version or None,
        succeeded=succeeded,
        checksum_base64=found.get("checksum_base64"),
        algorithm=found.get("checksumAlgorithm"),
        checksum_type=found.get("checksumType"),
        error=None if succeeded else f"{code} {message}".strip(),
    )
