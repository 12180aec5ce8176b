"""Bucket, queue and IAM policy documents, built from the config alone (no AWS calls).

Pure functions, so the full AWS documents can be checked statically even where the local
stand-in cannot enforce them: moto applies Deny statements but ignores their Conditions, so a
conditional Deny would block every request there (ARCHITECTURE §9). `split_for_target` keeps
those for AWS only.
"""

from __future__ import annotations

from typing import Any

from ngs_lake.config.model import Consumer, LakeConfig
from ngs_lake.config.names import LakeNames, statement_id

Document = dict[str, Any]
Statement = dict[str, Any]

VERSION = "2012-10-17"
CONSUMER_OBJECT_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"]
CONSUMER_LIST_ACTIONS = ["s3:ListBucket", "s3:ListBucketVersions"]


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _document(statements: list[Statement]) -> Document:
    return {"Version": VERSION, "Statement": statements}


def deny_insecure_transport(bucket: str) -> Statement:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn(bucket), f"{bucket_arn(bucket)}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def sequencer_bucket_policy(config: LakeConfig, sequencer_id: str, key_arn: str) -> Document:
    """WORM guard rails, TLS only, the lake key enforced, and read-only grants for consumers."""
    bucket = LakeNames.of(config).bucket(sequencer_id)
    objects = f"{bucket_arn(bucket)}/*"
    statements: list[Statement] = [
        {
            "Sid": "DenyVersionDeletionExceptBreakGlass",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
            "Resource": objects,
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": config.lake.break_glass_role_arn}},
        },
        deny_insecure_transport(bucket),
        {
            "Sid": "DenyUploadsNotEncryptedWithLakeKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "StringNotEqualsIfExists": {
                    "s3:x-amz-server-side-encryption": "aws:kms",
                    "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn,
                }
            },
        },
    ]
    for consumer in config.consumers:
        if sequencer_id in {s.id for s in config.consumer_sequencers(consumer)}:
            statements.extend(_consumer_bucket_statements(consumer, bucket))
    return _document(statements)


def _consumer_bucket_statements(consumer: Consumer, bucket: str) -> list[Statement]:
    principal = {"AWS": consumer.principal}
    read = {
        "Sid": statement_id("ConsumerRead", consumer.name),
        "Effect": "Allow",
        "Principal": principal,
        "Action": CONSUMER_OBJECT_ACTIONS,
        "Resource": [f"{bucket_arn(bucket)}/{p}*" for p in consumer.read_prefixes],
    }
    listing: Statement = {
        "Sid": statement_id("ConsumerList", consumer.name),
        "Effect": "Allow",
        "Principal": principal,
        "Action": CONSUMER_LIST_ACTIONS,
        "Resource": bucket_arn(bucket),
    }
    if "" not in consumer.read_prefixes:
        listing["Condition"] = {
            "StringLike": {"s3:prefix": [f"{p}*" for p in consumer.read_prefixes]}
        }
    return [read, listing]


def access_log_bucket_policy(config: LakeConfig, account: str) -> Document:
    """S3 server access logging delivers as a service principal, scoped to the lake's buckets."""
    bucket = config.lake.access_log_bucket
    return _document(
        [
            {
                "Sid": "S3ServerAccessLogsDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn(bucket)}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{config.lake.prefix}-*"},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            },
            deny_insecure_transport(bucket),
        ]
    )


def inventory_bucket_policy(config: LakeConfig, account: str) -> Document:
    bucket = config.lake.inventory.bucket
    return _document(
        [
            {
                "Sid": "S3InventoryDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn(bucket)}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{config.lake.prefix}-*"},
                    "StringEquals": {
                        "aws:SourceAccount": account,
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    },
                },
            },
            deny_insecure_transport(bucket),
        ]
    )


def catalog_bucket_policy(config: LakeConfig) -> Document:
    return _document([deny_insecure_transport(config.lake.catalog_bucket)])


def split_for_target(document: Document, is_local: bool) -> tuple[Document | None, list[str]]:
    """The document to apply on this target, and the Sids kept for AWS only.

    On the local target a Deny with a Condition is dropped: moto would apply it unconditionally.
    """
    if not is_local:
        return document, []
    kept, aws_only = [], []
    for statement in document["Statement"]:
        if statement["Effect"] == "Deny" and "Condition" in statement:
            aws_only.append(statement["Sid"])
        else:
            kept.append(statement)
    return (_document(kept) if kept else None), aws_only


def consumer_iam_policy(config: LakeConfig, consumer: Consumer, key_arn: str) -> Document:
    """Read-only (Get and List) on the consumer's prefixes of the buckets its filters admit."""
    names = LakeNames.of(config)
    buckets = [names.bucket(s.id) for s in config.consumer_sequencers(consumer)]
    statements: list[Statement] = []
    if buckets:
        statements.append(
            {
                "Sid": "ReadRunObjects",
                "Effect": "Allow",
                "Action": CONSUMER_OBJECT_ACTIONS,
                "Resource": [
                    f"{bucket_arn(b)}/{p}*" for b in buckets for p in consumer.read_prefixes
                ],
            }
        )
        listing: Statement = {
            "Sid": "ListRunPrefixes",
            "Effect": "Allow",
            "Action": CONSUMER_LIST_ACTIONS,
            "Resource": [bucket_arn(b) for b in buckets],
        }
        if "" not in consumer.read_prefixes:
            listing["Condition"] = {
                "StringLike": {"s3:prefix": [f"{p}*" for p in consumer.read_prefixes]}
            }
        statements.append(listing)
    statements.append(
        {
            "Sid": "DecryptWithLakeKey",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key_arn,
        }
    )
    return _document(statements)


def gateway_role_iam_policy(config: LakeConfig, key_arn: str) -> Document:
    """The gateway writes into its sequencers' buckets and announces uploads; it reads nothing."""
    names = LakeNames.of(config)
    buckets = [names.bucket(s.id) for s in config.sequencers]
    return _document(
        [
            {
                "Sid": "WriteRunObjects",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [f"{bucket_arn(b)}/*" for b in buckets],
            },
            {
                "Sid": "EncryptWithLakeKey",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
                "Resource": key_arn,
            },
            {
                "Sid": "AnnounceUploads",
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": f"arn:aws:events:{config.lake.region}:*:event-bus/default",
            },
        ]
    )


def events_queue_policy(queue_arn: str, rule_arn: str) -> Document:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "EventBridgeDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


def consumer_queue_policy(queue_arn: str, topic_arn: str, consumer: Consumer) -> Document:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "RunEventsDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            },
            {
                "Sid": statement_id("ConsumerReceive", consumer.name),
                "Effect": "Allow",
                "Principal": {"AWS": consumer.principal},
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                "Resource": queue_arn,
            },
        ],
    }


def consumer_filter_policy(consumer: Consumer) -> dict[str, list[str]]:
    """SNS filter on the message attributes every run event carries (ARCHITECTURE §6)."""
    policy: dict[str, list[str]] = {"event_type": list(consumer.event_types)}
    if consumer.platforms:
        policy["platform"] = list(consumer.platforms)
    if consumer.sites:
        policy["site"] = list(consumer.sites)
    return policy
