"""Requests the fixity work makes (issue 33), with the decisions the generated documents must
give them (evaluated with the other cases by test_policy_evaluation.py)."""

from ngs_lake_tests.conftest import ACCOUNT
from ngs_lake_tests.iam_evaluation import DAEMON_ROLE, FIXITY_BATCH, KEY, RUN, WEB, Case

PRM_OBJECT = "arn:aws:s3:::small-lake-prm-mad-01/exp/sample/run/fastq_pass/reads_0.fastq.gz"
RECORD = "arn:aws:s3:::small-lake-catalog/fixity/runs/PRM-MAD-01/exp/sample/run.json"
EVIDENCE = "arn:aws:s3:::small-lake-fixity-evidence"
JOB = f"arn:aws:s3:us-east-1:{ACCOUNT}:job/0123abcd-0000-0000-0000-000000000000"
VIA_S3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
TO_BATCH = {"iam:PassedToService": "batchoperations.s3.amazonaws.com"}

FIXITY_CASES = [
    # Verification, in the daemon's tick and in complete_run: checksums, versions, the record.
    Case("daemon-read-checksum", DAEMON_ROLE, "s3:GetObjectAttributes", PRM_OBJECT, "Allowed"),
    Case(
        "daemon-read-version-checksum",
        DAEMON_ROLE,
        "s3:GetObjectVersionAttributes",
        PRM_OBJECT,
        "Allowed",
    ),
    Case(
        "daemon-stream-recorded-version", DAEMON_ROLE, "s3:GetObjectVersion", PRM_OBJECT, "Allowed"
    ),
    Case("daemon-write-fixity-record", DAEMON_ROLE, "s3:PutObject", RECORD, "Allowed"),
    Case(
        "daemon-encrypt-fixity-record", DAEMON_ROLE, "kms:GenerateDataKey", KEY, "Allowed", VIA_S3
    ),
    Case("daemon-no-key-outside-s3", DAEMON_ROLE, "kms:GenerateDataKey", KEY, "ImplicitlyDenied"),
    Case("run-read-checksum", RUN, "s3:GetObjectAttributes", PRM_OBJECT, "Allowed"),
    # The audit's run task: evidence, Batch Operations jobs, and the batch role passed to S3 only.
    Case("run-write-evidence", RUN, "s3:PutObject", f"{EVIDENCE}/runs/x/audit.csv", "Allowed"),
    Case("run-create-checksum-job", RUN, "s3:CreateJob", "*", "Allowed"),
    Case("run-describe-checksum-job", RUN, "s3:DescribeJob", JOB, "Allowed"),
    Case("run-pass-batch-role", RUN, "iam:PassRole", FIXITY_BATCH, "Allowed", TO_BATCH),
    Case(
        "run-pass-batch-role-elsewhere",
        RUN,
        "iam:PassRole",
        FIXITY_BATCH,
        "ImplicitlyDenied",
        {"iam:PassedToService": "ec2.amazonaws.com"},
    ),
    Case("web-no-checksum-job", WEB, "s3:CreateJob", "*", "ImplicitlyDenied"),
    # The batch role: reads the sampled versions and its manifest, writes only its report.
    Case("batch-read-version", FIXITY_BATCH, "s3:GetObjectVersion", PRM_OBJECT, "Allowed"),
    Case(
        "batch-read-manifest",
        FIXITY_BATCH,
        "s3:GetObject",
        f"{EVIDENCE}/batch/manifests/t1.csv",
        "Allowed",
    ),
    Case(
        "batch-write-report",
        FIXITY_BATCH,
        "s3:PutObject",
        f"{EVIDENCE}/batch/reports/job-1/manifest.json",
        "Allowed",
    ),
    Case(
        "batch-no-evidence-overwrite",
        FIXITY_BATCH,
        "s3:PutObject",
        f"{EVIDENCE}/runs/x/audit.csv",
        "ImplicitlyDenied",
    ),
    Case("batch-no-data-write", FIXITY_BATCH, "s3:PutObject", PRM_OBJECT, "ImplicitlyDenied"),
    Case("batch-decrypt-through-s3", FIXITY_BATCH, "kms:Decrypt", KEY, "Allowed", VIA_S3),
]
