"""Bucket, queue and IAM policy documents, built from the config alone (no AWS calls).

Pure functions, so the full AWS documents can be checked statically even where the local
stand-in cannot enforce them: moto applies Deny statements but ignores their Conditions, so a
conditional Deny would block every request there (ARCHITECTURE §9). `split_for_target` keeps
those for AWS only. ngs_lake_tests/test_policy_evaluation.py evaluates every document with a
real IAM policy evaluator, conditions included; `all_policies` lists them all.
"""

from __future__ import annotations

from ngs_lake.config.model import Consumer, LakeConfig
from ngs_lake.config.names import LakeNames, event_shards, statement_id
from ngs_lake.provisioning.dagster_roles import dagster_role_documents
from ngs_lake.provisioning.fixity_statements import fixity_batch_role_documents
from ngs_lake.provisioning.iam_arns import (
    VERSION,
    Document,
    LakeArns,
    PolicyTarget,
    Statement,
    allow,
    bucket_arn,
    document,
    objects_arn,
)
from ngs_lake.provisioning.policy_sizes import managed_policies
from ngs_lake.runs.events import SOFTWARE_SOURCE

CONSUMER_OBJECT_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"]
CONSUMER_LIST_ACTIONS = ["s3:ListBucket", "s3:ListBucketVersions"]
SSE = "s3:x-amz-server-side-encryption"
SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id"


def deny_insecure_transport(bucket: str) -> Statement:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn(bucket), f"{bucket_arn(bucket)}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def lake_key_only(objects: str, key_arn: str) -> list[Statement]:
    """Uploads that name an encryption must name SSE-KMS with the lake key.

    Two Denies, because the keys of one condition operator are ANDed: a single
    StringNotEqualsIfExists over both headers let aws:kms with another key through. And a
    negated operator, IfExists or not, is true when its key is absent
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists),
    so that form also denied every request without the headers: every UploadPart and
    CompleteMultipartUpload, which are authorized as s3:PutObject and carry no SSE-KMS header
    (it goes on CreateMultipartUpload only:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html).

    So a request without the headers is allowed: the bucket's default encryption (SSE-KMS with
    the lake key, bucket_specs.py) encrypts it with the lake key
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-encryption.html); IAM cannot
    tell a header-less PutObject from an UploadPart. A request with `aws:kms` and no key id is
    denied, since S3 would use the AWS managed key aws/s3 for it
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html), and so is a key id
    other than the lake key's ARN, which is how the shares' KMSKey names it
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html).
    """
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": objects}
    return [
        {
            "Sid": "DenyEncryptionOtherThanKms",
            **deny,
            # Null false: only when the header is there (AES256, aws:kms:dsse).
            "Condition": {"StringNotEquals": {SSE: "aws:kms"}, "Null": {SSE: "false"}},
        },
        {
            "Sid": "DenyKmsKeyOtherThanLakeKey",
            **deny,
            # Another key id, or none (aws/s3): a negated operator matches an absent key.
            "Condition": {"StringEquals": {SSE: "aws:kms"}, "StringNotEquals": {SSE_KEY: key_arn}},
        },
    ]


def sequencer_bucket_policy(config: LakeConfig, sequencer_id: str, key_arn: str) -> Document:
    """WORM guard rails, TLS only, the lake key enforced, and read-only grants for consumers."""
    bucket = LakeNames.of(config).bucket(sequencer_id)
    objects = objects_arn(bucket)
    except_break_glass = {"ArnNotEquals": {"aws:PrincipalArn": config.lake.break_glass_role_arn}}
    statements: list[Statement] = [
        {
            # Object Lock keeps locked versions; a delete marker would still hide a run's file
            # from consumers and from verification, so no one but break-glass deletes at all.
            "Sid": "DenyDeletionExceptBreakGlass",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
            "Resource": objects,
            "Condition": except_break_glass,
        },
        {
            # An explicit retention on PutObject overrides the bucket default, and
            # PutObjectRetention may shorten a GOVERNANCE lock: neither may go below the
            # document's days. https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
            "Sid": "DenyRetentionShorterThanPolicy",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObject", "s3:PutObjectRetention"],
            "Resource": objects,
            "Condition": {
                "NumericLessThan": {
                    "s3:object-lock-remaining-retention-days": str(
                        config.lake.object_lock.retention_days
                    )
                },
                **except_break_glass,
            },
        },
        deny_insecure_transport(bucket),
        *lake_key_only(objects, key_arn),
    ]
    for consumer in config.consumers:
        if sequencer_id in {s.id for s in config.consumer_sequencers(consumer)}:
            statements.extend(_consumer_bucket_statements(consumer, bucket))
    return document(statements)


def _consumer_bucket_statements(consumer: Consumer, bucket: str) -> list[Statement]:
    principal = {"AWS": consumer.principal}
    read = {
        "Sid": statement_id("ConsumerRead", consumer.name),
        "Effect": "Allow",
        "Principal": principal,
        "Action": CONSUMER_OBJECT_ACTIONS,
        "Resource": [objects_arn(bucket, p) for p in consumer.read_prefixes],
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
    return document(
        [
            {
                "Sid": "S3ServerAccessLogsDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": objects_arn(bucket),
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
    return document(
        [
            {
                "Sid": "S3InventoryDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": objects_arn(bucket),
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
    return document([deny_insecure_transport(config.lake.catalog_bucket)])


def split_for_target(document_: Document, is_local: bool) -> tuple[Document | None, list[str]]:
    """The document to apply on this target, and the Sids kept for AWS only.

    On the local target a Deny with a Condition is dropped: moto would apply it unconditionally.
    """
    if not is_local:
        return document_, []
    kept, aws_only = [], []
    for statement in document_["Statement"]:
        if statement["Effect"] == "Deny" and "Condition" in statement:
            aws_only.append(statement["Sid"])
        else:
            kept.append(statement)
    return (document(kept) if kept else None), aws_only


def consumer_iam_policy(config: LakeConfig, consumer: Consumer, key_arn: str) -> Document:
    """Read-only (Get and List) on the consumer's prefixes of the buckets its filters admit."""
    names = LakeNames.of(config)
    buckets = [names.bucket(s.id) for s in config.consumer_sequencers(consumer)]
    statements: list[Statement] = []
    if buckets:
        statements.append(
            allow(
                "ReadRunObjects",
                CONSUMER_OBJECT_ACTIONS,
                [objects_arn(b, p) for b in buckets for p in consumer.read_prefixes],
            )
        )
        listing = allow("ListRunPrefixes", CONSUMER_LIST_ACTIONS, [bucket_arn(b) for b in buckets])
        if "" not in consumer.read_prefixes:
            listing["Condition"] = {
                "StringLike": {"s3:prefix": [f"{p}*" for p in consumer.read_prefixes]}
            }
        statements.append(listing)
    # The objects are SSE-KMS under the lake key: S3 decrypts them for the consumer's reads.
    statements.append(
        allow(
            "DecryptWithLakeKey",
            ["kms:Decrypt"],
            key_arn,
            Condition={
                "StringEquals": {"kms:ViaService": f"s3.{config.lake.region}.amazonaws.com"}
            },
        )
    )
    return document(statements)


def gateway_role_iam_policy(config: LakeConfig, key_arn: str, account: str = "*") -> Document:
    """The gateway role: our software gateway (ngs_lake/gateway/) runs under it, and provisioning
    hands it to each S3 File Gateway share (CreateSMBFileShare `Role`), so it holds what either
    calls. File Gateway role guide:
    https://docs.aws.amazon.com/filegateway/latest/files3/grant-access-s3.html

    Nothing deletes: the guide's s3:DeleteObject and s3:DeleteObjectVersion are left out (WORM;
    the bucket policy denies them anyway), so the appliance logs a refused delete when a file is
    removed or renamed on a share, and the object stays.
    """
    arns = LakeArns(config, PolicyTarget(account, key_arn))
    objects = [objects_arn(b) for b in arns.sequencer_buckets]
    return document(
        [
            # s3:PutObject authorizes PutObject (uploader.upload_file, upload_folder) and the
            # multipart calls of uploader._multipart: CreateMultipartUpload, UploadPart,
            # CompleteMultipartUpload (mpuoverview.html#mpuAndPermissions). PutObject and
            # CreateMultipartUpload name the share's KMSKey, the lake key's ARN (shares.py);
            # s3:AbortMultipartUpload: uploader._multipart after a failed part.
            allow("WriteRunObjects", ["s3:PutObject", "s3:AbortMultipartUpload"], objects),
            # HeadObject (GatewayService._already_in_s3, recovering after a crash) needs
            # s3:GetObject; the appliance reads objects back on a cache miss, with their
            # versions and ACLs, and lists the parts of its uploads (role guide).
            allow(
                "ReadBackObjects",
                [
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectAcl",
                    "s3:ListMultipartUploadParts",
                ],
                objects,
            ),
            *_appliance_statements(arns, objects),
            # SSE-KMS under the lake key, as S3 uses it for the role: GenerateDataKey for
            # PutObject and CreateMultipartUpload; Decrypt for UploadPart and
            # CompleteMultipartUpload (mpuoverview.html#mpuAndPermissions), for reads, and for
            # the checksum HeadObject returns with ChecksumMode ENABLED
            # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
            allow(
                "UseLakeKeyThroughS3",
                ["kms:GenerateDataKey", "kms:Decrypt"],
                key_arn,
                Condition={"StringEquals": {"kms:ViaService": arns.s3_service}},
            ),
            # GatewayService.announce_uploads, complete_notifications and refresh_cache:
            # PutEvents on the default bus, under the software gateway's own source (real
            # PutEvents refuses aws.* sources, ARCHITECTURE §3; the appliance's events come
            # from the service, not from this role). events:source is multivalued, one value
            # per entry: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html
            allow(
                "AnnounceUploads",
                ["events:PutEvents"],
                arns.default_event_bus,
                Condition={"ForAllValues:StringEquals": {"events:source": [SOFTWARE_SOURCE]}},
            ),
        ]
    )


def _appliance_statements(arns: LakeArns, objects: list[str]) -> list[Statement]:
    """What only the S3 File Gateway appliance calls (role guide)."""
    return [
        # The shares' ObjectACL bucket-owner-full-control (shares.py) makes the appliance send
        # x-amz-acl with each upload, which needs s3:PutObjectAcl: that canned ACL only.
        allow(
            "BucketOwnerFullControlOnly",
            ["s3:PutObjectAcl"],
            objects,
            Condition={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
        ),
        # Its bucket calls: listing (RefreshCache, directory reads), location, versioning,
        # transfer acceleration, and the multipart uploads left unfinished by a restart.
        allow(
            "ApplianceBucketCalls",
            [
                "s3:GetAccelerateConfiguration",
                "s3:GetBucketLocation",
                "s3:GetBucketVersioning",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:ListBucketMultipartUploads",
            ],
            [bucket_arn(b) for b in arns.sequencer_buckets],
        ),
    ]


def dagster_role_policies(config: LakeConfig, target: PolicyTarget) -> dict[str, Document]:
    """The webserver's, the daemon's and the run tasks' documents (dagster_roles.py), each as
    managed policies that fit IAM's limit (policy_sizes.py)."""
    documents = dagster_role_documents(LakeArns(config, target))
    return {
        k: v for name, whole in documents.items() for k, v in managed_policies(name, whole).items()
    }


def all_policies(config: LakeConfig, target: PolicyTarget) -> dict[str, Document]:
    """Every document the lake generates, by name, for `provision --plan --show-policies`.

    Resource policies (buckets, queues) are the full AWS documents; on the local target the plan
    marks the statements kept for AWS only. Identity documents are to be attached to the named
    principals. `PolicyTarget.of(ctx)` gives the account and key of a provisioning context.
    """
    arns = LakeArns(config, target)
    names = arns.names
    lake = config.lake
    out: dict[str, Document] = {
        f"bucket policy {names.bucket(s.id)}": sequencer_bucket_policy(config, s.id, arns.key)
        for s in config.sequencers
    }
    out[f"bucket policy {lake.access_log_bucket}"] = access_log_bucket_policy(
        config, target.account
    )
    out[f"bucket policy {lake.inventory.bucket}"] = inventory_bucket_policy(config, target.account)
    out[f"bucket policy {lake.catalog_bucket}"] = catalog_bucket_policy(config)
    for shard in event_shards(config):
        out[f"queue policy {shard.queue}"] = events_queue_policy(
            arns.queue(shard.queue), arns.rule(shard.rule)
        )
        out[f"queue policy {shard.dead_letter_queue}"] = events_queue_policy(
            arns.queue(shard.dead_letter_queue), arns.rule(shard.rule), EVENTS_DEAD_LETTERS
        )
    for consumer in config.consumers:
        queue = names.consumer_queue(consumer.name)
        out[f"queue policy {queue}"] = consumer_queue_policy(
            arns.queue(queue), arns.topic, consumer
        )
    out |= managed_policies(
        f"gateway role {lake.gateway_role_arn}",
        gateway_role_iam_policy(config, arns.key, target.account),
    )
    for consumer in config.consumers:
        out |= managed_policies(
            f"consumer {consumer.name} ({consumer.principal})",
            consumer_iam_policy(config, consumer, arns.key),
        )
    return out | dagster_role_policies(config, target) | fixity_batch_role_documents(arns)


EVENTS_DEAD_LETTERS = "EventBridgeDeadLetters"


def events_queue_policy(
    queue_arn: str, rule_arn: str, sid: str = "EventBridgeDelivery"
) -> Document:
    """EventBridge may send the rule's events (to its queue) or its dead letters (to the DLQ)."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": sid,
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
