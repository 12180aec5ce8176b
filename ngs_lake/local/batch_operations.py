"""The S3 Control subset the lake uses, served by the local AWS stand-in: S3 Batch Operations
CreateJob with the ComputeObjectChecksum operation, and DescribeJob. moto has neither, so the
stand-in serves them, as the software gateway serves the Storage Gateway API.

A job runs to completion inside CreateJob (AWS runs it asynchronously; DescribeJob answers
`Complete` at once here), reading each object listed in its manifest through the server's own
S3 API and writing AWS's documented completion report:
- the manifest: CSV rows of the Spec's Fields (`Bucket,Key[,VersionId]`), keys URL-encoded
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-create-job.html);
- the report's bucket must carry the bucket owner condition (`ExpectedBucketOwner`), or the job
  fails (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-compute-checksums.html);
- the report: `<prefix>/job-<id>/manifest.json` (Format `Report_CSV_20180820`, Results with
  TaskExecutionStatus, Bucket, MD5Checksum, Key; ReportSchema) and the result CSVs it names
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html). Rows are
  written as that page's "Compute checksum task report" examples show them: `bucket,key,version,
  succeeded,200,,<ResultMessage>` with the ResultMessage JSON `checksum_base64` (its `=` escaped
  `\\u003d`), `etag`, `checksumAlgorithm`, `checksumType`, `checksum_hex` (upper case), and
  `bucket,key,version,failed,200,PermanentFailure,error details: {"failureMessage": ...,
  "errorCode": "404"}` (the HTTP status before the error code, although the ReportSchema line
  names ErrorCode first).
Only SHA256, SHA1 and MD5 (full object or composite) and CRC32 (full object) are computed
here; a job asking for another algorithm fails with a reason, as an unsupported request would.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import threading
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus
from xml.etree import ElementTree

import boto3

NS = "{http://awss3control.amazonaws.com/doc/2018-08-20/}"
REPORT_SCHEMA = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
HASHES = {"SHA256": hashlib.sha256, "SHA1": hashlib.sha1, "MD5": hashlib.md5}
_jobs: dict[str, dict[str, Any]] = {}
_tokens: dict[str, str] = {}
_lock = threading.Lock()


def _text(root: ElementTree.Element, path: str, default: str = "") -> str:
    found = root.find("/".join(f"{NS}{part}" for part in path.split("/")))
    if found is None:
        found = root.find(path)
    return found.text or default if found is not None else default


def _fields(root: ElementTree.Element) -> list[str]:
    """The manifest Spec's Fields, in order (`Bucket,Key` when the request names none)."""
    found = root.findall(f"{NS}Manifest/{NS}Spec/{NS}Fields/{NS}member") or root.findall(
        "Manifest/Spec/Fields/member"
    )
    return [f.text or "" for f in found] or ["Bucket", "Key"]


def _s3(request: Any) -> Any:
    """The stand-in's own S3 API, through which a job reads and writes like any client."""
    return boto3.client(
        "s3",
        endpoint_url=request.host_url.rstrip("/"),
        region_name="us-east-1",
        aws_access_key_id="batch-operations",
        aws_secret_access_key="batch-operations",
    )


def _digest(s3: Any, bucket: str, key: str, version: str, algorithm: str, kind: str) -> bytes:
    versioned = {"VersionId": version} if version else {}
    if algorithm == "CRC32" and kind == "FULL_OBJECT":
        body = s3.get_object(Bucket=bucket, Key=key, **versioned)["Body"].read()
        return zlib.crc32(body).to_bytes(4, "big")
    if algorithm not in HASHES:
        raise ValueError(f"the local stand-in does not compute {algorithm} {kind}")
    if kind == "FULL_OBJECT":
        body = s3.get_object(Bucket=bucket, Key=key, **versioned)["Body"].read()
        return HASHES[algorithm](body).digest()
    head = s3.head_object(Bucket=bucket, Key=key, PartNumber=1, **versioned)
    parts = int(head.get("PartsCount") or 1)
    digests = b""
    for number in range(1, parts + 1):
        part = s3.get_object(Bucket=bucket, Key=key, PartNumber=number, **versioned)["Body"]
        digests += HASHES[algorithm](part.read()).digest()
    return HASHES[algorithm](digests).digest()


def _task(s3: Any, job: dict[str, Any], row: list[str]) -> list[str]:
    fields = dict(zip(job["fields"], row, strict=False))
    bucket, key = fields.get("Bucket", ""), unquote_plus(fields.get("Key", ""))
    version = fields.get("VersionId", "")
    echoed = [bucket, fields.get("Key", ""), version]
    versioned = {"VersionId": version} if version else {}
    try:
        digest = _digest(s3, bucket, key, version, job["algorithm"], job["kind"])
        head = s3.head_object(Bucket=bucket, Key=key, **versioned)
    except Exception as exc:  # the task fails, named in the report, as AWS reports it
        return [*echoed, "failed", "200", "PermanentFailure", _failure(job, exc)]
    message = {
        "checksum_base64": base64.b64encode(digest).decode(),
        "etag": head.get("ETag", "").strip('"'),
        "checksumAlgorithm": job["algorithm"],
        "checksumType": job["kind"],
        "checksum_hex": digest.hex().upper(),
    }
    text = json.dumps(message, separators=(",", ":")).replace("=", "\\u003d")
    return [*echoed, "succeeded", "200", "", text]


def _failure(job: dict[str, Any], exc: Exception) -> str:
    """AWS's failed-task ResultMessage: `error details: {"failureMessage": "Task <id> ...",
    "errorCode": "404"}` ("Key not found" for a missing key, as the example reads)."""
    response = getattr(exc, "response", {})
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
    code = response.get("Error", {}).get("Code", "")
    reason = "Key not found" if code in ("NoSuchKey", "NoSuchVersion", "404") else str(exc)
    detail = {"failureMessage": f"Task {job['id']} {reason}", "errorCode": status}
    return "error details: " + json.dumps(detail)


def _write_report(s3: Any, job: dict[str, Any], rows: list[list[str]]) -> None:
    bucket = job["report_bucket"].rsplit(":", 1)[-1]
    base = f"{job['report_prefix'].rstrip('/')}/job-{job['id']}".lstrip("/")
    results = []
    for status in ("succeeded", "failed"):
        chosen = [r for r in rows if r[3] == status]
        if not chosen or (status == "succeeded" and job["scope"] == "FailedTasksOnly"):
            continue
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(chosen)
        body = text.getvalue().encode()
        key = f"{base}/results/{hashlib.sha1(body).hexdigest()}.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        md5 = hashlib.md5(body).hexdigest()
        results.append(
            {"TaskExecutionStatus": status, "Bucket": bucket, "MD5Checksum": md5, "Key": key}
        )
    manifest = {
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "Results": results,
        "ReportSchema": REPORT_SCHEMA,
    }
    s3.put_object(Bucket=bucket, Key=f"{base}/manifest.json", Body=json.dumps(manifest).encode())


def _run(request: Any, job: dict[str, Any]) -> None:
    s3 = _s3(request)
    bucket, _, key = job["manifest_arn"].split(":::", 1)[1].partition("/")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        entries = [row for row in csv.reader(io.StringIO(body)) if row]
        if job["algorithm"] not in HASHES and job["algorithm"] != "CRC32":
            raise ValueError(f"ChecksumAlgorithm {job['algorithm']} is not served locally")
        if job["expected_owner"] != job["account"]:
            raise PermissionError(
                f"the report bucket's ExpectedBucketOwner {job['expected_owner']!r} is not "
                f"the job's account {job['account']}"
            )
    except Exception as exc:
        job.update(status="Failed", failure=str(exc))
        return
    rows = [_task(s3, job, row) for row in entries]
    job["total"], job["failed"] = len(rows), sum(1 for r in rows if r[3] == "failed")
    if job["report_enabled"]:
        _write_report(s3, job, rows)
    job["status"] = "Complete"


def create_job(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    root = ElementTree.fromstring(request.data or b"<x/>")
    operation = "Operation/S3ComputeObjectChecksum"
    token = _text(root, "ClientRequestToken")
    with _lock:
        if token in _tokens:  # CreateJob is idempotent per ClientRequestToken
            return 200, {}, _job_id_xml(_tokens[token])
        job = {
            "id": str(uuid.uuid4()),
            "status": "New",
            "algorithm": _text(root, f"{operation}/ChecksumAlgorithm", "CRC64NVME"),
            "kind": _text(root, f"{operation}/ChecksumType", "FULL_OBJECT"),
            "manifest_arn": _text(root, "Manifest/Location/ObjectArn"),
            "report_bucket": _text(root, "Report/Bucket"),
            "report_prefix": _text(root, "Report/Prefix"),
            "report_enabled": _text(root, "Report/Enabled") == "true",
            "expected_owner": _text(root, "Report/ExpectedBucketOwner"),
            "account": {k.lower(): v for k, v in dict(headers).items()}.get("x-amz-account-id", ""),
            "fields": _fields(root),
            "scope": _text(root, "Report/ReportScope", "AllTasks"),
            "role": _text(root, "RoleArn"),
            "created": datetime.now(UTC),
            "total": 0,
            "failed": 0,
            "failure": "",
        }
        if root.find(f"{NS}Operation/{NS}S3ComputeObjectChecksum") is None and (
            root.find("Operation/S3ComputeObjectChecksum") is None
        ):
            return 400, {}, _error("InvalidRequest", "only S3ComputeObjectChecksum is served")
        _jobs[job["id"]] = job
        _tokens[token] = job["id"]
    _run(request, job)
    return 200, {}, _job_id_xml(job["id"])


def describe_job(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    job_id = full_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    job = _jobs.get(job_id)
    if job is None:
        return 404, {}, _error("NoSuchJob", f"The specified job does not exist: {job_id}")
    done = job["total"] - job["failed"]
    failure = (
        f"<FailureReasons><member><FailureCode>InvalidManifest</FailureCode>"
        f"<FailureReason>{_escape(job['failure'])}</FailureReason></member></FailureReasons>"
        if job["failure"]
        else ""
    )
    body = (
        f'<DescribeJobResult xmlns="{NS[1:-1]}"><Job><JobId>{job_id}</JobId>'
        f"<Status>{job['status']}</Status><Priority>10</Priority>"
        f"<CreationTime>{job['created'].strftime('%Y-%m-%dT%H:%M:%SZ')}</CreationTime>"
        f"<RoleArn>{_escape(job['role'])}</RoleArn>"
        f"<ProgressSummary><TotalNumberOfTasks>{job['total']}</TotalNumberOfTasks>"
        f"<NumberOfTasksSucceeded>{done}</NumberOfTasksSucceeded>"
        f"<NumberOfTasksFailed>{job['failed']}</NumberOfTasksFailed></ProgressSummary>"
        f"{failure}</Job></DescribeJobResult>"
    )
    return 200, {}, body


def _job_id_xml(job_id: str) -> str:
    return f'<CreateJobResult xmlns="{NS[1:-1]}"><JobId>{job_id}</JobId></CreateJobResult>'


def _error(code: str, message: str) -> str:
    text = f"<Code>{code}</Code><Message>{_escape(message)}</Message>"
    return f"<ErrorResponse><Error>{text}</Error></ErrorResponse>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def jobs_dispatch(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    if request.method == "POST":
        return create_job(request, full_url, headers)
    return describe_job(request, full_url, headers)


def serve_batch_operations() -> None:
    """Route CreateJob and DescribeJob to this module in moto's S3 Control paths."""
    import moto.s3control.urls

    moto.s3control.urls.url_paths["/v20180820/jobs"] = jobs_dispatch
    moto.s3control.urls.url_paths["/v20180820/jobs/<job_id>"] = jobs_dispatch
