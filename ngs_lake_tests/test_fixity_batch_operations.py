"""S3 Batch Operations compute-checksum jobs against the local stand-in (issue 33): the lake
writes the job's manifest, creates the job through boto3's s3control client, and reads the
completion report back. The report's layout is AWS's documented one
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html); the
digests are literals and checksums the test computes from the bytes it wrote.
"""

import base64
import hashlib
import json

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.fixity.batch_jobs import (
    ChecksumTask,
    create_checksum_job,
    job_status,
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
        ChecksumTask("batch-data", "missing.fastq", None),
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
    assert not rows["missing.fastq"].succeeded and "NoSuchKey" in rows["missing.fastq"].error

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
