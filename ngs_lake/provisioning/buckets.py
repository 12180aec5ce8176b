"""S3 buckets and each of their settings, planned one setting at a time.

Every setting is its own resource in the plan (lifecycle, inventory, policy, ...), read back with
the matching Get call and compared in a normalised form, so editing one setting in the document
updates that setting only and a second apply makes no call at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.config.model import ObjectLockPolicy
from ngs_lake.provisioning.context import ProvisioningContext, read_or_none
from ngs_lake.provisioning.plan import Action, Change, ProvisioningRefused, setting_change
from ngs_lake.provisioning.policies import Document, split_for_target
from ngs_lake.provisioning.worm import WormSettings, worm_refusals

# Fields moto accepts but does not store (moto 5.x): it answers an inventory's
# IncludedObjectVersions as "All" and its Encryption as empty whatever was put, and drops a
# replication rule's SourceSelectionCriteria. On the local target these are left out of the
# comparison, or every plan would show a false update; on AWS everything is compared.
LOCAL_UNSTORED = {
    "s3-inventory": "IncludedObjectVersions and destination Encryption",
    "s3-replication": "SourceSelectionCriteria",
}


PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
OWNERSHIP = [{"ObjectOwnership": "BucketOwnerEnforced"}]


@dataclass(frozen=True)
class BucketSpec:
    """What one bucket should look like; None means the lake does not manage that setting."""

    name: str
    tags: dict[str, str]
    kms_encrypted: bool
    versioned: bool
    object_lock: ObjectLockPolicy | None = None
    lifecycle_rules: list[dict[str, Any]] | None = None
    inventory: dict[str, Any] | None = None
    log_to: tuple[str, str] | None = None  # (target bucket, prefix)
    replication: dict[str, Any] | None = None
    policy: Callable[[str], Document] | None = field(default=None, compare=False)


def plan_bucket(ctx: ProvisioningContext, spec: BucketSpec) -> list[Change]:
    """The bucket's own change first, then one change per managed setting, in apply order."""
    s3 = ctx.clients.s3()
    exists = _bucket_exists(ctx, spec.name)
    settings = _settings(ctx, spec)
    if not exists:
        create = Change(
            "s3-bucket", spec.name, Action.CREATE, "new bucket", run=_creator(ctx, spec)
        )
        return [create] + [
            Change(kind, spec.name, Action.CREATE, "new bucket", notes, put)
            for kind, _read, desired, put, notes in settings
            if desired is not None
        ]
    if spec.object_lock is not None or spec.versioned:
        _refuse_weakening(ctx, spec)
    changes = [Change("s3-bucket", spec.name, Action.NOOP, "exists")]
    for kind, read, desired, put, notes in settings:
        current, wanted = (_comparable(ctx, kind, v) for v in (read(s3), desired))
        changes.append(setting_change(kind, spec.name, current, wanted, put, notes))
    return changes


def _bucket_exists(ctx: ProvisioningContext, bucket: str) -> bool:
    try:
        ctx.clients.s3().head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def _creator(ctx: ProvisioningContext, spec: BucketSpec) -> Callable[[], None]:
    def create() -> None:
        kwargs: dict[str, Any] = {"Bucket": spec.name}
        if spec.object_lock is not None:
            kwargs["ObjectLockEnabledForBucket"] = True
        if ctx.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        ctx.clients.s3().create_bucket(**kwargs)

    return create


def _refuse_weakening(ctx: ProvisioningContext, spec: BucketSpec) -> None:
    s3 = ctx.clients.s3()
    versioning = s3.get_bucket_versioning(Bucket=spec.name).get("Status")
    lock = _read_object_lock(s3, spec.name)
    retention = (lock or {}).get("Rule", {}).get("DefaultRetention", {})
    current = WormSettings(versioning, retention.get("Mode"), retention.get("Days"))
    desired = WormSettings(
        "Enabled" if spec.versioned else versioning,
        spec.object_lock.mode if spec.object_lock else None,
        spec.object_lock.retention_days if spec.object_lock else None,
    )
    if spec.object_lock is None and current.lock_mode is None:
        desired = WormSettings(desired.versioning, None, None)
    problems = worm_refusals(spec.name, current, desired)
    if problems:
        raise ProvisioningRefused(problems)


Setting = tuple[str, Callable[[Any], Any], Any, Callable[[], None], tuple[str, ...]]


def _settings(ctx: ProvisioningContext, spec: BucketSpec) -> list[Setting]:
    """(kind, read, desired, put, notes) for each managed setting, in the order they apply."""
    return [
        *_worm_settings(ctx, spec),
        *_protection_settings(ctx, spec),
        *_data_settings(ctx, spec),
        *_policy_settings(ctx, spec),
    ]


def _collector(out: list[Setting]) -> Callable[..., None]:
    def add(
        kind: str,
        read: Callable[[Any], Any],
        desired: Any,
        put: Callable[[], None],
        notes: tuple[str, ...] = (),
    ) -> None:
        out.append((kind, read, desired, put, notes))

    return add


def _worm_settings(ctx: ProvisioningContext, spec: BucketSpec) -> list[Setting]:
    """Versioning and Object Lock: what makes the bucket WORM."""
    b = spec.name
    s3 = ctx.clients.s3
    out: list[Setting] = []
    add = _collector(out)
    if spec.versioned:
        add(
            "s3-versioning",
            lambda c: c.get_bucket_versioning(Bucket=b).get("Status"),
            "Enabled",
            lambda: s3().put_bucket_versioning(
                Bucket=b, VersioningConfiguration={"Status": "Enabled"}
            ),
        )
    if spec.object_lock is not None:
        lock = {
            "ObjectLockEnabled": "Enabled",
            "Rule": {
                "DefaultRetention": {
                    "Mode": spec.object_lock.mode,
                    "Days": spec.object_lock.retention_days,
                }
            },
        }
        add(
            "s3-object-lock",
            lambda c: _read_object_lock(c, b),
            lock,
            lambda: s3().put_object_lock_configuration(Bucket=b, ObjectLockConfiguration=lock),
        )

    return out


def _protection_settings(ctx: ProvisioningContext, spec: BucketSpec) -> list[Setting]:
    """Encryption, public access, ownership and tags."""
    b = spec.name
    s3 = ctx.clients.s3
    out: list[Setting] = []
    add = _collector(out)

    def encryption(key_arn: str | None) -> dict[str, Any]:
        if spec.kms_encrypted:
            by_default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
            return {
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": by_default, "BucketKeyEnabled": True}
                ]
            }
        return {
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BucketKeyEnabled": False,
                }
            ]
        }

    add(
        "s3-encryption",
        lambda c: _read_encryption(c, b),
        encryption(ctx.key_arn_or_placeholder()),
        lambda: s3().put_bucket_encryption(
            Bucket=b,
            ServerSideEncryptionConfiguration=encryption(
                ctx.require_key_arn() if spec.kms_encrypted else None
            ),
        ),
    )
    add(
        "s3-public-access-block",
        lambda c: (
            read_or_none(
                c.get_public_access_block,
                {"NoSuchPublicAccessBlockConfiguration"},
                Bucket=b,
            )
            or {}
        ).get("PublicAccessBlockConfiguration"),
        PUBLIC_ACCESS_BLOCK,
        lambda: s3().put_public_access_block(
            Bucket=b, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK
        ),
    )
    add(
        "s3-ownership",
        lambda c: (
            (
                read_or_none(
                    c.get_bucket_ownership_controls, {"OwnershipControlsNotFoundError"}, Bucket=b
                )
                or {}
            )
            .get("OwnershipControls", {})
            .get("Rules")
        ),
        OWNERSHIP,
        lambda: s3().put_bucket_ownership_controls(
            Bucket=b, OwnershipControls={"Rules": OWNERSHIP}
        ),
    )
    tag_set = [{"Key": k, "Value": v} for k, v in sorted(spec.tags.items())]
    add(
        "s3-tags",
        lambda c: _sorted_tags(
            (read_or_none(c.get_bucket_tagging, {"NoSuchTagSet"}, Bucket=b) or {}).get("TagSet")
        ),
        tag_set,
        lambda: s3().put_bucket_tagging(Bucket=b, Tagging={"TagSet": tag_set}),
    )
    return out


def _data_settings(ctx: ProvisioningContext, spec: BucketSpec) -> list[Setting]:
    """Lifecycle, inventory, access logging and replication."""
    b = spec.name
    s3 = ctx.clients.s3
    out: list[Setting] = []
    add = _collector(out)
    if spec.lifecycle_rules is not None:
        rules = spec.lifecycle_rules
        add(
            "s3-lifecycle",
            lambda c: (
                read_or_none(
                    c.get_bucket_lifecycle_configuration, {"NoSuchLifecycleConfiguration"}, Bucket=b
                )
                or {}
            ).get("Rules"),
            rules,
            lambda: s3().put_bucket_lifecycle_configuration(
                Bucket=b, LifecycleConfiguration={"Rules": rules}
            ),
        )
    if spec.inventory is not None:
        inventory = spec.inventory
        config_id = inventory["Id"]
        add(
            "s3-inventory",
            lambda c: (
                read_or_none(
                    c.get_bucket_inventory_configuration,
                    {"NoSuchConfiguration"},
                    Bucket=b,
                    Id=config_id,
                )
                or {}
            ).get("InventoryConfiguration"),
            inventory,
            lambda: s3().put_bucket_inventory_configuration(
                Bucket=b, Id=config_id, InventoryConfiguration=inventory
            ),
            _unstored_note(ctx, "s3-inventory"),
        )
    if spec.log_to is not None:
        target, prefix = spec.log_to
        logging = {"TargetBucket": target, "TargetPrefix": prefix}
        add(
            "s3-access-logging",
            lambda c: _read_logging(c, b),
            logging,
            lambda: s3().put_bucket_logging(
                Bucket=b, BucketLoggingStatus={"LoggingEnabled": logging}
            ),
        )
    if spec.replication is not None:
        replication = spec.replication
        add(
            "s3-replication",
            lambda c: (
                read_or_none(
                    c.get_bucket_replication, {"ReplicationConfigurationNotFoundError"}, Bucket=b
                )
                or {}
            ).get("ReplicationConfiguration"),
            replication,
            lambda: s3().put_bucket_replication(Bucket=b, ReplicationConfiguration=replication),
            _unstored_note(ctx, "s3-replication"),
        )
    return out


def _policy_settings(ctx: ProvisioningContext, spec: BucketSpec) -> list[Setting]:
    """The bucket policy, with its AWS-only statements noted on the local target."""
    b = spec.name
    s3 = ctx.clients.s3
    out: list[Setting] = []
    add = _collector(out)
    if spec.policy is not None:
        policy_of = spec.policy
        shown, aws_only = split_for_target(policy_of(ctx.key_arn_or_placeholder()), ctx.is_local)
        notes = tuple(
            f"AWS-only statement (moto ignores Deny conditions): {sid}" for sid in aws_only
        )

        def put_policy() -> None:
            applied, _ = split_for_target(policy_of(ctx.require_key_arn()), ctx.is_local)
            if applied is not None:
                s3().put_bucket_policy(Bucket=b, Policy=json.dumps(applied))
            else:
                s3().delete_bucket_policy(Bucket=b)

        add("s3-policy", lambda c: _read_policy(c, b), shown, put_policy, notes)
    return out


def _read_object_lock(s3: Any, bucket: str) -> dict[str, Any] | None:
    answer = read_or_none(
        s3.get_object_lock_configuration, {"ObjectLockConfigurationNotFoundError"}, Bucket=bucket
    )
    if answer is None:
        return None
    config = answer["ObjectLockConfiguration"]
    retention = config.get("Rule", {}).get("DefaultRetention")
    if retention:  # AWS sends Days or Years; moto sends both, the unused one as 0
        config["Rule"]["DefaultRetention"] = {k: v for k, v in retention.items() if v != 0}
    return config


def _read_encryption(s3: Any, bucket: str) -> dict[str, Any] | None:
    answer = read_or_none(
        s3.get_bucket_encryption, {"ServerSideEncryptionConfigurationNotFoundError"}, Bucket=bucket
    )
    if answer is None:
        return None
    rules = answer["ServerSideEncryptionConfiguration"]["Rules"]
    return {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": r["ApplyServerSideEncryptionByDefault"],
                "BucketKeyEnabled": r.get("BucketKeyEnabled", False),
            }
            for r in rules
        ]
    }


def _read_logging(s3: Any, bucket: str) -> dict[str, str] | None:
    enabled = s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled")
    if not enabled:
        return None
    return {"TargetBucket": enabled["TargetBucket"], "TargetPrefix": enabled["TargetPrefix"]}


def _read_policy(s3: Any, bucket: str) -> Document | None:
    answer = read_or_none(s3.get_bucket_policy, {"NoSuchBucketPolicy"}, Bucket=bucket)
    return json.loads(answer["Policy"]) if answer else None


def _sorted_tags(tag_set: list[dict[str, str]] | None) -> list[dict[str, str]] | None:
    return sorted(tag_set, key=lambda t: t["Key"]) if tag_set else None


def _unstored_note(ctx: ProvisioningContext, kind: str) -> tuple[str, ...]:
    if not ctx.is_local:
        return ()
    return (f"{LOCAL_UNSTORED[kind]} compared on AWS only (moto does not store them)",)


def _comparable(ctx: ProvisioningContext, kind: str, value: Any) -> Any:
    """The setting as the target can store it (see LOCAL_UNSTORED)."""
    if value is None or not ctx.is_local or kind not in LOCAL_UNSTORED:
        return value
    if kind == "s3-inventory":
        out = {k: v for k, v in value.items() if k != "IncludedObjectVersions"}
        destination = dict(out["Destination"]["S3BucketDestination"])
        destination.pop("Encryption", None)
        return {**out, "Destination": {"S3BucketDestination": destination}}
    rules = [{k: v for k, v in r.items() if k != "SourceSelectionCriteria"} for r in value["Rules"]]
    return {**value, "Rules": rules}
