"""What each of the lake's buckets should be, from the config document.

A sequencer's bucket is WORM (Object Lock with default retention, versioned), encrypted with the
lake key and a bucket key, private, inventoried, logged and optionally replicated. The lake-wide
buckets hold inventory reports, access logs and the catalogue.
"""

from __future__ import annotations

from typing import Any

from ngs_lake.config.model import LakeConfig, ObjectLockPolicy, Sequencer
from ngs_lake.config.names import LakeNames
from ngs_lake.provisioning.buckets import BucketSpec
from ngs_lake.provisioning.policies import (
    access_log_bucket_policy,
    bucket_arn,
    catalog_bucket_policy,
    inventory_bucket_policy,
    sequencer_bucket_policy,
)

MANAGED_BY = {"managed-by": "ngs-lake"}


def sequencer_tags(config: LakeConfig, sequencer: Sequencer) -> dict[str, str]:
    """The tags that travel with a sequencer's bucket and share, and so into every message."""
    site = config.site_of(sequencer)
    return {
        "site": site.id,
        "lab": site.name,
        "platform": sequencer.platform,
        "sequencer": sequencer.id,
        "gateway": sequencer.gateway,
    }


def lake_bucket_specs(config: LakeConfig, account: str) -> list[BucketSpec]:
    lake = config.lake
    # Server access logs and inventory reports can only be delivered to SSE-S3 buckets.
    return [
        BucketSpec(
            name=lake.access_log_bucket,
            tags={**MANAGED_BY, "role": "access-logs"},
            kms_encrypted=False,
            versioned=False,
            policy=lambda _key: access_log_bucket_policy(config, account),
        ),
        BucketSpec(
            name=lake.inventory.bucket,
            tags={**MANAGED_BY, "role": "inventory"},
            kms_encrypted=False,
            versioned=False,
            policy=lambda _key: inventory_bucket_policy(config, account),
        ),
        BucketSpec(
            name=lake.catalog_bucket,
            tags={**MANAGED_BY, "role": "catalog"},
            kms_encrypted=True,
            versioned=True,
            policy=lambda _key: catalog_bucket_policy(config),
        ),
        fixity_evidence_bucket_spec(config),
    ]


def fixity_evidence_bucket_spec(config: LakeConfig) -> BucketSpec:
    """The fixity evidence (audit reports, Batch job reports): Object Lock in COMPLIANCE mode
    for the lake's retention, so the evidence is as durable as the data it speaks for."""
    return BucketSpec(
        name=LakeNames.of(config).fixity_evidence_bucket,
        tags={**MANAGED_BY, "role": "fixity-evidence"},
        kms_encrypted=True,
        versioned=True,
        object_lock=ObjectLockPolicy(
            mode="COMPLIANCE", retention_days=config.lake.object_lock.retention_days
        ),
    )


def sequencer_bucket_spec(config: LakeConfig, sequencer: Sequencer) -> BucketSpec:
    names = LakeNames.of(config)
    bucket = names.bucket(sequencer.id)
    return BucketSpec(
        name=bucket,
        tags={**MANAGED_BY, **sequencer_tags(config, sequencer)},
        kms_encrypted=True,
        versioned=True,
        object_lock=config.lake.object_lock,
        lifecycle_rules=lifecycle_rules(config),
        inventory=inventory_configuration(config),
        log_to=(config.lake.access_log_bucket, f"{bucket}/"),
        replication=replication_configuration(config),
        policy=lambda key_arn: sequencer_bucket_policy(config, sequencer.id, key_arn),
    )


def lifecycle_rules(config: LakeConfig) -> list[dict[str, Any]]:
    lake = config.lake
    rule: dict[str, Any] = {
        "ID": LakeNames.of(config).lifecycle_rule_id,
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
    }
    if lake.lifecycle:
        rule["Transitions"] = [
            {"Days": t.days, "StorageClass": t.storage_class} for t in lake.lifecycle
        ]
        rule["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": t.days, "StorageClass": t.storage_class} for t in lake.lifecycle
        ]
    rule["AbortIncompleteMultipartUpload"] = {
        "DaysAfterInitiation": lake.abort_incomplete_multipart_days
    }
    return [rule]


def inventory_configuration(config: LakeConfig) -> dict[str, Any]:
    inventory = config.lake.inventory
    return {
        "Destination": {
            "S3BucketDestination": {
                "Bucket": bucket_arn(inventory.bucket),
                "Format": inventory.format,
                "Prefix": inventory.prefix,
                "Encryption": {"SSES3": {}},
            }
        },
        "IsEnabled": True,
        "Id": LakeNames.of(config).inventory_config_id,
        "IncludedObjectVersions": "Current",
        "OptionalFields": list(inventory.fields),
        "Schedule": {"Frequency": inventory.frequency},
    }


def replication_configuration(config: LakeConfig) -> dict[str, Any] | None:
    replication = config.lake.replication
    if replication is None:
        return None
    # Objects are SSE-KMS, so S3 replicates them only when told which key encrypts the replica.
    destination = {
        "Bucket": bucket_arn(replication.destination_bucket),
        "EncryptionConfiguration": {"ReplicaKmsKeyID": replication.replica_kms_key_arn},
    }
    return {
        "Role": replication.role_arn,
        "Rules": [
            {
                "ID": f"{config.lake.prefix}-replica",
                "Priority": 1,
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
                "Destination": destination,
            }
        ],
    }
