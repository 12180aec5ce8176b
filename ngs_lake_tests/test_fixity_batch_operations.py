"""S3 Batch Operations compute-checksum jobs against the local stand-in (issue 33): the lake
writes the job's manifest, creates the job through boto3's s3control client (whose parameter
validation holds the request to botocore's s3control model), and reads the completion report
back. The report's layout is AWS's documented one
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html): its
example rows are parsed here verbatim, and the stand-in's rows are held to their shape; the
digests are literals and checksums the test computes from the bytes it wrote.
"""

import base64
import csv
import hashlib
import io
import json

import pytest

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.fixity.batch_jobs import (
    ChecksumTask,
    create_checksum_job,
    job_status,
    manifest_csv,
    manifest_fields,
    parse_report_rows,
    read_completion_report,
)
from ngs_lake_tests.conftest import ACCOUNT, CREDENTIALS
from ngs_lake_tests.test_fixity_verification import (
    BIG_FASTQ,
    FASTQ,
    FASTQ_SHA256,
    PART_SIZE,
    put_multipart,
)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/small-lake-fixity-batch"
KEY = "exp/sample/run/fastq_pass/reads 1.fastq.gz"  # a space: keys are URL-encoded in manifests
MISSING_VERSION = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"

# Verbatim from "Example— Compute checksum task report" on
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html (as read
# on 2026-12-07). The failed rows' stray quote (after ""failureMessage"":) is AWS's own.
AWS_SUCCEEDED_ROW = (
    "amzn-s3-demo-bucket1,s3-standard-1mb-test-object,,succeeded,200,,"
    '"{""checksum_base64"":""bS9TOQ\\u003d\\u003d"",""etag"":""3c3c1813042989094598e4b57ecbdc82"",'
    '""checksumAlgorithm"":""CRC32"",""checksumType"":""FULL_OBJECT"",""checksum_hex"":""6D2F5339""}"'
)
AWS_FAILED_ROWS = """\
amzn-s3-demo-bucket1,image_14975,,failed,200,PermanentFailure,"error details: {""failureMessage"":"Task 2845ca0d-38d9-4c4b-abcf-379dc749c452 SSE-C encryption type is not supported for this operation"", ""errorCode"": ""400""}"
amzn-s3-demo-bucket1,image_14975,,failed,200,PermanentFailure,"error details: {""failureMessage"":"Task 2845ca0d-38d9-4c4b-abcf-379dc749c452 Key not found"", ""errorCode"": ""404""}"
amzn-s3-demo-bucket1,image_14975,,failed,200,PermanentFailure,"error details: {""failureMessage"":"Task 2845ca0d-38d9-4c4b-abcf-379dc749c452 Internal server error, please retry"", ""errorCode"": ""500""}"
"""


def test_awss_published_compute_checksum_rows_parse_to_their_checksum_and_failures():
    (row,) = parse_report_rows(AWS_SUCCEEDED_ROW + "\n")
    assert (row.bucket, row.key, row.version_id, row.succeeded) == (
        "amzn-s3-demo-bucket1",
        "s3-standard-1mb-test-object",
        None,
        True,
    )
    assert (row.checksum_base64, row.algorithm, row.checksum_type) == (
        "bS9TOQ==",
        "CRC32",
        "FULL_OBJECT",
    )
    assert base64.b64decode(row.checksum_base64).hex().upper() == "6D2F5339"  # the row's hex
    sse_c, missing, internal = parse_report_rows(AWS_FAILED_ROWS)
    assert not any(r.succeeded or r.checksum_base64 for r in (sse_c, missing, internal))
    assert missing.error.startswith("PermanentFailure (HTTP 200) error details:")
    assert "Key not found" in missing.error and '""errorCode"": ""404""}' in missing.error
    assert "please retry" in internal.error  # the message is whole, past its comma
    # the ReportSchema line's own order (ErrorCode before HTTPStatusCode) reads the same
    (schema,) = parse_report_rows("b,k,,failed,NoSuchKey,404,The specified key does not exist.")
    assert schema.error == "NoSuchKey (HTTP 404) The specified key does not exist."
    # a row whose base64 and hex disagree is not a checksum at all
    (torn,) = parse_report_rows(AWS_SUCCEEDED_ROW.replace("6D2F5339", "6D2F5338") + "\n")
    assert not torn.succeeded and torn.checksum_base64 is None
    assert "6d2f5339 != checksum_hex 6D2F5338" in torn.error


def test_a_manifest_names_versions_for_all_its_tasks_or_for_none():
    versioned = [ChecksumTask("b", "a b/c+d", "v1"), ChecksumTask("b", "e", "v2")]
    assert manifest_fields(versioned) == ["Bucket", "Key", "VersionId"]
    assert manifest_csv(versioned) == b"b,a+b/c%2Bd,v1\nb,e,v2\n"
    latest = [ChecksumTask("b", "e", None)]
    assert (manifest_fields(latest), manifest_csv(latest)) == (["Bucket", "Key"], b"b,e\n")
    with pytest.raises(ValueError, match="s3://b/e names none"):
        manifest_fields([*versioned, *latest])


def test_a_compute_checksum_job_reports_each_versions_checksum_in_awss_format(moto):
    clients = AwsClients(
        AwsTarget(endpoint_url=moto.endpoint),
        credentials={
            "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        },
    )
    s3 = clients.s3()
    for bucket in ("batch-data", "batch-reports"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket="batch-data", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="batch-data", Key=KEY, Body=FASTQ)["VersionId"]
    s3.put_object(Bucket="batch-data", Key=KEY, Body=b"a later version")
    put_multipart(s3, "batch-data", "big.fastq.gz", BIG_FASTQ)
    tasks = [
        ChecksumTask("batch-data", KEY, first),
        ChecksumTask("batch-data", "missing.fastq", MISSING_VERSION),
    ]
    control = clients.client("s3control")
    job = create_checksum_job(
        control, s3, ACCOUNT, ROLE, "batch-reports", "audit", tasks, "SHA256", "FULL_OBJECT", "t1"
    )
    again = create_checksum_job(
        control, s3, ACCOUNT, ROLE, "batch-reports", "audit", tasks, "SHA256", "FULL_OBJECT", "t1"
    )
    assert again == job  # one job per ClientRequestToken
    assert job_status(control, ACCOUNT, job) == ("Complete", [])
    report = json.loads(
        s3.get_object(Bucket="batch-reports", Key=f"audit/reports/job-{job}/manifest.json")[
            "Body"
        ].read()
    )
    assert report["Format"] == "Report_CSV_20180820"
    assert report["ReportSchema"] == (
        "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
    )
    assert sorted(r["TaskExecutionStatus"] for r in report["Results"]) == ["failed", "succeeded"]
    rows = {row.key: row for row in read_completion_report(s3, "batch-reports", "audit", job)}
    done = rows[KEY]
    assert (done.succeeded, done.version_id, done.algorithm, done.checksum_type) == (
        True,
        first,
        "SHA256",
        "FULL_OBJECT",
    )
    assert base64.b64decode(done.checksum_base64).hex() == FASTQ_SHA256  # the first version's
    missing = rows["missing.fastq"]
    assert not missing.succeeded and missing.error.startswith("PermanentFailure (HTTP 200)")
    assert f'"failureMessage": "Task {job} Key not found"' in missing.error
    written = _result_rows(s3, report, "succeeded")
    (aws,) = csv.reader(io.StringIO(AWS_SUCCEEDED_ROW))
    assert [written[0][3:6], list(json.loads(written[0][6]))] == [
        aws[3:6],  # succeeded,200,(no error code)
        list(json.loads(aws[6])),  # the same fields, in AWS's order
    ]
    assert json.loads(written[0][6])["checksum_hex"] == FASTQ_SHA256.upper()

    composite = create_checksum_job(
        control,
        s3,
        ACCOUNT,
        ROLE,
        "batch-reports",
        "audit",
        [ChecksumTask("batch-data", "big.fastq.gz", None)],
        "SHA256",
        "COMPOSITE",
        "t2",
    )
    (row,) = read_completion_report(s3, "batch-reports", "audit", composite)
    parts = [BIG_FASTQ[:PART_SIZE], BIG_FASTQ[PART_SIZE:]]
    expected = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert (row.checksum_type, row.checksum_base64) == (
        "COMPOSITE",
        base64.b64encode(expected).decode(),
    )
    stored = s3.get_object_attributes(
        Bucket="batch-data", Key="big.fastq.gz", ObjectAttributes=["Checksum"]
    )["Checksum"]["ChecksumSHA256"]
    assert stored == row.checksum_base64  # what S3 recorded at upload


def _result_rows(s3, report: dict, status: str) -> list[list[str]]:
    (result,) = [r for r in report["Results"] if r["TaskExecutionStatus"] == status]
    body = s3.get_object(Bucket=result["Bucket"], Key=result["Key"])["Body"].read().decode()
    return list(csv.reader(io.StringIO(body)))
