"""IAM for fixity (issue 33), kept apart from the roles' other statements so each role's
generator only appends these lists:
- verification (the daemon's events sensor and the complete_run task): each object's checksum by
  GetObjectAttributes, which IAM authorizes as s3:GetObjectAttributes, and as
  s3:GetObjectVersionAttributes when a version is named; a streaming read of a recorded version
  (s3:GetObjectVersion); the run's fixity record put into the catalogue (SSE-KMS:
  kms:GenerateDataKey through S3)
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html);
- the audit (a run task): the same reads, the evidence bucket, and S3 Batch Operations jobs,
  which run as the fixity batch role the task passes (iam:PassRole, only to S3 Batch
  Operations) (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-iam-role-policies.html);
- the batch role itself: trusted by batchoperations.s3.amazonaws.com, reading the sampled
  versions and the job's manifest, and putting its completion report.
"""

from __future__ import annotations

from ngs_lake.provisioning.iam_arns import (
    Document,
    LakeArns,
    Statement,
    allow,
    bucket_arn,
    document,
    objects_arn,
)
from ngs_lake.runs.fixity_record import RECORD_PREFIX

BATCH_SERVICE = "batchoperations.s3.amazonaws.com"
OBJECT_CHECKSUMS = ["s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"]


def _through_s3(arns: LakeArns) -> dict:
    return {"StringEquals": {"kms:ViaService": arns.s3_service}}


def fixity_verification_statements(arns: LakeArns) -> list[Statement]:
    """What verification adds: checksums, recorded versions read back, the record written."""
    objects = [objects_arn(b) for b in arns.sequencer_buckets]
    catalog = arns.config.lake.catalog_bucket
    return [
        allow("ReadObjectChecksums", [*OBJECT_CHECKSUMS, "s3:GetObjectVersion"], objects),
        allow("WriteFixityRecords", ["s3:PutObject"], objects_arn(catalog, RECORD_PREFIX)),
        allow(
            "EncryptFixityRecords",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            arns.key,
            Condition=_through_s3(arns),
        ),
    ]


def fixity_audit_statements(arns: LakeArns) -> list[Statement]:
    """What the fixity_audit asset's run task adds to the run task's reads and catalogue."""
    evidence = arns.names.fixity_evidence_bucket
    return [
        allow("ListEvidence", ["s3:ListBucket"], bucket_arn(evidence)),
        allow("WriteEvidence", ["s3:GetObject", "s3:PutObject"], objects_arn(evidence)),
        # CreateJob names no resource type in IAM; DescribeJob is on the job.
        allow("CreateChecksumJobs", ["s3:CreateJob"], "*"),
        allow(
            "DescribeChecksumJobs",
            ["s3:DescribeJob"],
            f"arn:aws:s3:{arns.config.lake.region}:{arns.target.account}:job/*",
        ),
        allow(
            "PassBatchRole",
            ["iam:PassRole"],
            arns.names.fixity_batch_role_arn(arns.target.account),
            Condition={"StringEquals": {"iam:PassedToService": BATCH_SERVICE}},
        ),
    ]


def fixity_batch_role_documents(arns: LakeArns) -> dict[str, Document]:
    """The batch role's trust policy and its permissions."""
    evidence = arns.names.fixity_evidence_bucket
    role = arns.names.fixity_batch_role_arn(arns.target.account)
    trust: Document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3BatchOperations",
                "Effect": "Allow",
                "Principal": {"Service": BATCH_SERVICE},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    permissions = document(
        [
            allow(
                "ComputeChecksums",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [objects_arn(b) for b in arns.sequencer_buckets],
            ),
            allow(
                "ReadJobManifests",
                ["s3:GetObject", "s3:GetObjectVersion"],
                objects_arn(evidence, "batch/manifests/"),
            ),
            allow("WriteJobReports", ["s3:PutObject"], objects_arn(evidence, "batch/reports/")),
            allow(
                "UseLakeKeyThroughS3",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                arns.key,
                Condition=_through_s3(arns),
            ),
        ]
    )
    return {
        f"fixity batch role {role}": permissions,
        f"fixity batch role trust {role}": trust,
    }
