"""Every generated policy proven by evaluation: requests decided by a real IAM policy evaluator.

moto ignores the Conditions of Deny statements (ARCHITECTURE §9), so the bucket policies' TLS,
WORM and lake-key rules are evaluated here by `@cloud-copilot/iam-simulate` (npm, pinned in
package-lock.json; `npm ci` installs it). The documents are the product's own, for
config/examples/small.yaml (iam_evaluation.py); each case is one request as its caller sends
it, with the decision it must get. Every case and document is evaluated by one node process per
session (the `evaluation` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest

from ngs_lake_tests.conftest import ACCOUNT
from ngs_lake_tests.fixity_policy_cases import FIXITY_CASES
from ngs_lake_tests.iam_evaluation import (
    BREAK_GLASS,
    DAEMON_ROLE,
    GATEWAY,
    KEY,
    LIMS,
    POLICIES,
    PROVISIONER,
    QC,
    RUN,
    STRANGER,
    WEB,
    Case,
    role,
    run_evaluator,
)

OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/99999999-0000-0000-0000-000000000000"
SSE = "s3:x-amz-server-side-encryption"
SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id"
LAKE_KEY = {SSE: "aws:kms", SSE_KEY: KEY}
VIA_S3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
OWNER, PUBLIC = ({"s3:x-amz-acl": acl} for acl in ("bucket-owner-full-control", "public-read"))
SHORTER = {  # 30 days left, against the small lake's 365-day retention
    "s3:object-lock-mode": "COMPLIANCE",
    "s3:object-lock-retain-until-date": "2026-02-01T00:00:00Z",
    "s3:object-lock-remaining-retention-days": "30",
}


def obj(bucket: str, key: str = "20260101_LH00123_0042_A22F7KLT4/RunInfo.xml") -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket(name: str) -> str:
    return f"arn:aws:s3:::{name}"


NVX, MIS, PRM = "small-lake-nvx-mad-01", "small-lake-mis-mad-01", "small-lake-prm-mad-01"
CATALOG, INVENTORY = "small-lake-catalog", "small-lake-inventory"
RECORD = "lake-config/in-force.json"
EVENTS_QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:small-lake-gateway-events"
DLQ = f"arn:aws:sqs:us-east-1:{ACCOUNT}:small-lake-gateway-events-dlq"
RUNS_TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/small-lake-runs"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:small-lake-run-events.fifo"
OPERATIONS = f"arn:aws:sns:us-east-1:{ACCOUNT}:small-lake-operations"
ALERTS_TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/small-lake-alerts"
SHARE = f"arn:aws:storagegateway:us-east-1:{ACCOUNT}:share/share-F123D451"
GATEWAY_ARN = f"arn:aws:storagegateway:us-east-1:{ACCOUNT}:gateway/sgw-712345DA"
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"

GATEWAY_CASES = [
    # PutObject and CreateMultipartUpload as both gateways send them: the share's SseKms KMSKey.
    Case(
        "gateway-put-object-with-lake-key", GATEWAY, "s3:PutObject", obj(NVX), "Allowed", LAKE_KEY
    ),
    # No SSE header: the bucket's default encryption, the lake key, applies.
    Case(
        "gateway-put-object-bucket-default-encryption", GATEWAY, "s3:PutObject", obj(NVX), "Allowed"
    ),
    Case(
        "gateway-put-object-with-another-key",
        GATEWAY,
        "s3:PutObject",
        obj(NVX),
        "ExplicitlyDenied",
        {SSE: "aws:kms", SSE_KEY: OTHER_KEY},
    ),
    # aws:kms without the key id header: S3 would use the AWS managed key aws/s3.
    Case(
        "gateway-put-object-kms-without-key-header",
        GATEWAY,
        "s3:PutObject",
        obj(NVX),
        "ExplicitlyDenied",
        {SSE: "aws:kms"},
    ),
    Case(
        "gateway-put-object-sse-s3",
        GATEWAY,
        "s3:PutObject",
        obj(NVX),
        "ExplicitlyDenied",
        {SSE: "AES256"},
    ),
    # UploadPart and CompleteMultipartUpload are s3:PutObject requests without SSE headers.
    Case("gateway-upload-part", GATEWAY, "s3:PutObject", obj(MIS, "run/big.cbcl"), "Allowed"),
    Case(
        "gateway-complete-multipart-upload",
        GATEWAY,
        "s3:PutObject",
        obj(PRM, "exp/s/x.pod5"),
        "Allowed",
    ),
    # The appliance (share ObjectACL bucket-owner-full-control), and its listings.
    Case("gateway-acl-owner-full-control", GATEWAY, "s3:PutObjectAcl", obj(NVX), "Allowed", OWNER),
    Case(
        "gateway-acl-public-read", GATEWAY, "s3:PutObjectAcl", obj(NVX), "ImplicitlyDenied", PUBLIC
    ),
    Case("gateway-list-for-refresh-cache", GATEWAY, "s3:ListBucket", bucket(NVX), "Allowed"),
    Case("gateway-abort-multipart-upload", GATEWAY, "s3:AbortMultipartUpload", obj(NVX), "Allowed"),
    Case("gateway-head-object-after-restart", GATEWAY, "s3:GetObject", obj(NVX), "Allowed"),
    Case("gateway-kms-decrypt-for-upload-part", GATEWAY, "kms:Decrypt", KEY, "Allowed", VIA_S3),
    Case("gateway-kms-data-key-for-put", GATEWAY, "kms:GenerateDataKey", KEY, "Allowed", VIA_S3),
    Case("gateway-kms-decrypt-outside-s3", GATEWAY, "kms:Decrypt", KEY, "ImplicitlyDenied"),
    Case(
        "gateway-put-events-own-source",
        GATEWAY,
        "events:PutEvents",
        BUS,
        "Allowed",
        {"events:source": ["ngs-lake.file-gateway"]},
    ),
    Case(
        "gateway-put-events-with-another-source",
        GATEWAY,
        "events:PutEvents",
        BUS,
        "ImplicitlyDenied",
        {"events:source": ["ngs-lake.file-gateway", "aws.s3"]},
    ),
    Case("gateway-delete-object", GATEWAY, "s3:DeleteObject", obj(NVX), "ExplicitlyDenied"),
    Case(
        "gateway-delete-object-version",
        GATEWAY,
        "s3:DeleteObjectVersion",
        obj(NVX),
        "ExplicitlyDenied",
    ),
    Case(
        "gateway-put-object-retention-shorter",
        GATEWAY,
        "s3:PutObjectRetention",
        obj(NVX),
        "ExplicitlyDenied",
        SHORTER,
    ),
    Case(
        "gateway-put-object-with-shorter-retention",
        GATEWAY,
        "s3:PutObject",
        obj(NVX),
        "ExplicitlyDenied",
        SHORTER,
    ),
    Case(
        "gateway-put-object-outside-the-lake",
        GATEWAY,
        "s3:PutObject",
        obj("elsewhere"),
        "ImplicitlyDenied",
        LAKE_KEY,
    ),
    Case(
        "gateway-put-object-without-tls",
        GATEWAY,
        "s3:PutObject",
        obj(NVX),
        "ExplicitlyDenied",
        LAKE_KEY,
        tls=False,
    ),
]

CONSUMER_CASES = [
    Case("qc-get-own-prefix", QC, "s3:GetObject", obj(NVX, "reports/run1/qc.html"), "Allowed"),
    Case(
        "qc-list-own-prefix",
        QC,
        "s3:ListBucket",
        bucket(MIS),
        "Allowed",
        {"s3:prefix": "InterOp-exports/"},
    ),
    Case("qc-get-other-prefix", QC, "s3:GetObject", obj(NVX), "ImplicitlyDenied"),
    Case(
        "qc-list-other-prefix",
        QC,
        "s3:ListBucket",
        bucket(NVX),
        "ImplicitlyDenied",
        {"s3:prefix": "Data/"},
    ),
    Case(
        "qc-get-bucket-its-filters-exclude",
        QC,
        "s3:GetObject",
        obj(PRM, "reports/x"),
        "ImplicitlyDenied",
    ),
    Case("qc-put-object", QC, "s3:PutObject", obj(NVX, "reports/x"), "ImplicitlyDenied", LAKE_KEY),
    Case("qc-delete-object", QC, "s3:DeleteObject", obj(NVX, "reports/x"), "ExplicitlyDenied"),
    Case("lims-get-any-run", LIMS, "s3:GetObject", obj(PRM, "exp/s/final_summary.txt"), "Allowed"),
    Case("lims-list-bucket", LIMS, "s3:ListBucket", bucket(PRM), "Allowed", {"s3:prefix": ""}),
    Case(
        "lims-get-object-outside-the-lake",
        LIMS,
        "s3:GetObject",
        obj("elsewhere"),
        "ImplicitlyDenied",
    ),
    Case("lims-put-object", LIMS, "s3:PutObject", obj(NVX), "ImplicitlyDenied", LAKE_KEY),
    Case(
        "lims-delete-object-version", LIMS, "s3:DeleteObjectVersion", obj(NVX), "ExplicitlyDenied"
    ),
    Case(
        "lims-put-object-retention-shorter",
        LIMS,
        "s3:PutObjectRetention",
        obj(NVX),
        "ExplicitlyDenied",
        SHORTER,
    ),
    Case("lims-get-without-tls", LIMS, "s3:GetObject", obj(NVX), "ExplicitlyDenied", tls=False),
    Case("lims-decrypt-through-s3", LIMS, "kms:Decrypt", KEY, "Allowed", VIA_S3),
    Case("stranger-get-object", STRANGER, "s3:GetObject", obj(NVX), "ImplicitlyDenied"),
]

BREAK_GLASS_CASES = [
    Case(
        "break-glass-delete-object-version",
        BREAK_GLASS,
        "s3:DeleteObjectVersion",
        obj(NVX),
        "Allowed",
    ),
    # Policy-wise only: S3 refuses to shorten a COMPLIANCE lock for anyone.
    Case(
        "break-glass-put-object-retention",
        BREAK_GLASS,
        "s3:PutObjectRetention",
        obj(NVX),
        "Allowed",
        SHORTER,
    ),
    Case(
        "break-glass-without-tls",
        BREAK_GLASS,
        "s3:DeleteObjectVersion",
        obj(NVX),
        "ExplicitlyDenied",
        tls=False,
    ),
    Case(
        "break-glass-put-object-with-another-key",
        BREAK_GLASS,
        "s3:PutObject",
        obj(NVX),
        "ExplicitlyDenied",
        {SSE: "aws:kms", SSE_KEY: OTHER_KEY},
    ),
]

DAGSTER_CASES = [
    # The daemon: the events sensors drain the queue into the ledger and ask the gateway.
    Case(
        "daemon-receive-gateway-events", DAEMON_ROLE, "sqs:ReceiveMessage", EVENTS_QUEUE, "Allowed"
    ),
    Case("daemon-delete-drained-events", DAEMON_ROLE, "sqs:DeleteMessage", EVENTS_QUEUE, "Allowed"),
    Case("daemon-park-rejected-event", DAEMON_ROLE, "sqs:SendMessage", DLQ, "Allowed"),
    Case("daemon-start-run", DAEMON_ROLE, "dynamodb:PutItem", RUNS_TABLE, "Allowed"),
    Case(
        "daemon-runs-by-state",
        DAEMON_ROLE,
        "dynamodb:Query",
        f"{RUNS_TABLE}/index/by-state",
        "Allowed",
    ),
    Case(
        "daemon-write-run-files",
        DAEMON_ROLE,
        "dynamodb:BatchWriteItem",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/small-lake-run-files",
        "Allowed",
    ),
    Case(
        "daemon-read-held-run-files",
        DAEMON_ROLE,
        "dynamodb:BatchGetItem",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/small-lake-run-files",
        "Allowed",
    ),
    Case(
        "daemon-record-upload-request",
        DAEMON_ROLE,
        "dynamodb:PutItem",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/small-lake-events",
        "Allowed",
    ),
    Case(
        "daemon-notify-when-uploaded",
        DAEMON_ROLE,
        "storagegateway:NotifyWhenUploaded",
        SHARE,
        "Allowed",
    ),
    # ... and verifies and announces runs in its tick (issue #25), reading but never writing them.
    Case("daemon-get-run-object", DAEMON_ROLE, "s3:GetObject", obj(NVX), "Allowed"),
    Case("daemon-publish-run-event", DAEMON_ROLE, "sns:Publish", TOPIC, "Allowed"),
    Case(
        "daemon-put-object-in-run-bucket", DAEMON_ROLE, "s3:PutObject", obj(NVX), "ImplicitlyDenied"
    ),
    # Issue #31: a sample sheet's S3 versions read by VersionId; the per-run sample manifest
    # written into the catalogue's samples/, and nowhere else in it.
    Case("daemon-read-sheet-version", DAEMON_ROLE, "s3:GetObjectVersion", obj(NVX), "Allowed"),
    Case(
        "daemon-write-sample-manifest",
        DAEMON_ROLE,
        "s3:PutObject",
        obj(CATALOG, "samples/NVX-MAD-01/20260101_LH00123_0042_A22F7KLT4/ab12.json"),
        "Allowed",
    ),
    Case(
        "daemon-write-catalogue-outside-samples",
        DAEMON_ROLE,
        "s3:PutObject",
        obj(CATALOG, "catalog/runs.parquet"),
        "ImplicitlyDenied",
    ),
    Case("run-read-sheet-version", RUN, "s3:GetObjectVersion", obj(NVX), "Allowed"),
    # The alerts sensor: peek the DLQ, read the caches, keep its state, publish alerts.
    Case("daemon-peek-dlq", DAEMON_ROLE, "sqs:ReceiveMessage", DLQ, "Allowed"),
    Case("daemon-release-peeked", DAEMON_ROLE, "sqs:ChangeMessageVisibility", DLQ, "Allowed"),
    Case("daemon-delete-parked", DAEMON_ROLE, "sqs:DeleteMessage", DLQ, "ImplicitlyDenied"),
    Case("daemon-read-cache", DAEMON_ROLE, "storagegateway:DescribeCache", GATEWAY_ARN, "Allowed"),
    Case("daemon-claim-alert", DAEMON_ROLE, "dynamodb:PutItem", ALERTS_TABLE, "Allowed"),
    Case("daemon-publish-alert", DAEMON_ROLE, "sns:Publish", OPERATIONS, "Allowed"),
    Case("run-publish-alert", RUN, "sns:Publish", OPERATIONS, "ImplicitlyDenied"),
    Case("provisioner-subscribe-operator", PROVISIONER, "sns:Subscribe", OPERATIONS, "Allowed"),
    Case(
        "daemon-delete-runs-table",
        DAEMON_ROLE,
        "dynamodb:DeleteTable",
        RUNS_TABLE,
        "ImplicitlyDenied",
    ),
    # Run tasks: announce, verify, manifests, the catalogue and the capacity report.
    Case("run-publish-run-event", RUN, "sns:Publish", TOPIC, "Allowed"),
    Case(
        "run-list-run-folder", RUN, "s3:ListBucket", bucket(NVX), "Allowed", {"s3:prefix": "run/"}
    ),
    Case("run-list-object-versions", RUN, "s3:ListBucketVersions", bucket(PRM), "Allowed"),
    Case("run-read-run-info", RUN, "s3:GetObject", obj(NVX), "Allowed"),
    Case("run-decrypt-run-object", RUN, "kms:Decrypt", KEY, "Allowed", VIA_S3),
    Case("run-put-object-in-run-bucket", RUN, "s3:PutObject", obj(NVX), "ImplicitlyDenied"),
    Case("run-delete-object-in-run-bucket", RUN, "s3:DeleteObject", obj(NVX), "ExplicitlyDenied"),
    Case("run-put-bucket-policy", RUN, "s3:PutBucketPolicy", bucket(NVX), "ImplicitlyDenied"),
    Case(
        "run-write-manifest",
        RUN,
        "s3:PutObject",
        obj(CATALOG, "manifests/NVX-MAD-01/r.parquet"),
        "Allowed",
    ),
    Case(
        "run-write-manifest-without-tls",
        RUN,
        "s3:PutObject",
        obj(CATALOG, "manifests/x"),
        "ExplicitlyDenied",
        tls=False,
    ),
    Case(
        "run-read-inventory-manifest",
        RUN,
        "s3:GetObject",
        obj(INVENTORY, "inventory/m.json"),
        "Allowed",
    ),
    Case("run-transition-run", RUN, "dynamodb:UpdateItem", RUNS_TABLE, "Allowed"),
    Case("run-share-tags", RUN, "storagegateway:ListTagsForResource", SHARE, "Allowed"),
    Case("run-gateway-cache", RUN, "storagegateway:DescribeCache", GATEWAY_ARN, "Allowed"),
    Case("run-drain-gateway-events", RUN, "sqs:ReceiveMessage", EVENTS_QUEUE, "ImplicitlyDenied"),
    # The run task for provision_lake: every resource's settings, no object.
    Case(
        "provisioner-put-bucket-policy", PROVISIONER, "s3:PutBucketPolicy", bucket(NVX), "Allowed"
    ),
    Case(
        "provisioner-object-lock",
        PROVISIONER,
        "s3:PutBucketObjectLockConfiguration",
        bucket(MIS),
        "Allowed",
    ),
    Case(
        "provisioner-create-share",
        PROVISIONER,
        "storagegateway:CreateSMBFileShare",
        GATEWAY_ARN,
        "Allowed",
    ),
    Case("provisioner-pass-gateway-role", PROVISIONER, "iam:PassRole", GATEWAY, "Allowed"),
    Case(
        "provisioner-pass-other-role",
        PROVISIONER,
        "iam:PassRole",
        role("admin"),
        "ImplicitlyDenied",
    ),
    Case(
        "provisioner-set-queue-policy",
        PROVISIONER,
        "sqs:SetQueueAttributes",
        EVENTS_QUEUE,
        "Allowed",
    ),
    Case("provisioner-get-run-object", PROVISIONER, "s3:GetObject", obj(NVX), "ImplicitlyDenied"),
    Case(
        "provisioner-put-object",
        PROVISIONER,
        "s3:PutObject",
        obj(NVX),
        "ImplicitlyDenied",
        LAKE_KEY,
    ),
    Case(
        "provisioner-delete-object-version",
        PROVISIONER,
        "s3:DeleteObjectVersion",
        obj(NVX),
        "ExplicitlyDenied",
    ),
    Case(
        "provisioner-delete-bucket", PROVISIONER, "s3:DeleteBucket", bucket(NVX), "ImplicitlyDenied"
    ),
    # The webserver: compute logs only; lake data explicitly out of reach.
    Case(
        "web-read-compute-log",
        WEB,
        "s3:GetObject",
        obj("small-lake-dagster", "dagster/compute-logs/r/x.out"),
        "Allowed",
    ),
    Case("web-get-run-object", WEB, "s3:GetObject", obj(NVX), "ExplicitlyDenied"),
    Case("web-receive-gateway-events", WEB, "sqs:ReceiveMessage", EVENTS_QUEUE, "ExplicitlyDenied"),
    # The document in force (its record) and the apply history, under lake-config/.
    Case("daemon-record-document", DAEMON_ROLE, "s3:PutObject", obj(CATALOG, RECORD), "Allowed"),
    Case("daemon-read-record", DAEMON_ROLE, "s3:GetObject", obj(CATALOG, RECORD), "Allowed"),
    Case("daemon-encrypt-record", DAEMON_ROLE, "kms:GenerateDataKey", KEY, "Allowed", VIA_S3),
    Case(
        "daemon-put-catalogue-table",
        DAEMON_ROLE,
        "s3:PutObject",
        obj(CATALOG, "manifests/x"),
        "ImplicitlyDenied",
    ),
    Case("web-read-record", WEB, "s3:GetObject", obj(CATALOG, RECORD), "Allowed"),
    Case("web-write-record", WEB, "s3:PutObject", obj(CATALOG, RECORD), "ImplicitlyDenied"),
    Case("web-decrypt-record", WEB, "kms:Decrypt", KEY, "Allowed", VIA_S3),
    Case(
        "provisioner-record-apply",
        PROVISIONER,
        "s3:PutObject",
        obj(CATALOG, "lake-config/applies/2026-12-07T08:00:00.000000Z-0123456789abcdef.json"),
        "Allowed",
    ),
    Case("run-read-record", RUN, "s3:GetObject", obj(CATALOG, RECORD), "Allowed"),
    # lake_config_changed plans in the daemon's code server: the reads, none of the writes.
    Case(
        "daemon-plan-read",
        DAEMON_ROLE,
        "s3:GetBucketObjectLockConfiguration",
        bucket(NVX),
        "Allowed",
    ),
    Case(
        "daemon-plan-no-write",
        DAEMON_ROLE,
        "s3:PutBucketObjectLockConfiguration",
        bucket(NVX),
        "ImplicitlyDenied",
    ),
    Case(
        "daemon-plan-read-share",
        DAEMON_ROLE,
        "storagegateway:DescribeSMBFileShares",
        SHARE,
        "Allowed",
    ),
    Case(
        "daemon-plan-no-share-update",
        DAEMON_ROLE,
        "storagegateway:UpdateSMBFileShare",
        SHARE,
        "ImplicitlyDenied",
    ),
]

CASES = GATEWAY_CASES + CONSUMER_CASES + BREAK_GLASS_CASES + DAGSTER_CASES + FIXITY_CASES


@pytest.fixture(scope="session")
def evaluation() -> dict[str, Any]:
    return run_evaluator(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_request_decision(case: Case, evaluation: dict[str, Any]) -> None:
    result = next(r for r in evaluation["results"] if r["id"] == case.id)
    assert result["errors"] is None, result["errors"]
    # A key the evaluator drops would silently change what the case tests.
    assert result["ignoredContextKeys"] == [], f"keys that do not apply to {case.action}"
    assert result["decision"] == case.expected


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name", list(POLICIES))
def test_generated_document_uses_only_what_aws_defines(
    name: str, evaluation: dict[str, Any]
) -> None:
    """Syntax, and every action, condition operator and condition key known to AWS."""
    checked = next(d for d in evaluation["documents"] if d["name"] == name)
    assert checked["problems"] == []
