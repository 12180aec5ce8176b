"""The lake's customer-managed KMS key, found and named by its alias, with yearly rotation."""

from __future__ import annotations

from ngs_lake.provisioning.context import ProvisioningContext
from ngs_lake.provisioning.plan import Action, Change


def plan_kms_key(ctx: ProvisioningContext) -> list[Change]:
    alias = ctx.config.lake.kms_key_alias
    kms = ctx.clients.kms
    key_arn = ctx.key_arn()

    def create_key() -> None:
        key = kms().create_key(
            Description=f"{ctx.config.lake.prefix}: sequencing data lake",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=[{"TagKey": "managed-by", "TagValue": "ngs-lake"}],
        )["KeyMetadata"]
        kms().create_alias(AliasName=alias, TargetKeyId=key["KeyId"])

    def enable_rotation() -> None:
        kms().enable_key_rotation(KeyId=ctx.require_key_arn())

    if key_arn is None:
        return [
            Change("kms-key", alias, Action.CREATE, "alias not found", run=create_key),
            Change("kms-key-rotation", alias, Action.CREATE, "new key", run=enable_rotation),
        ]
    rotating = kms().get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]
    return [
        Change("kms-key", alias, Action.NOOP, f"exists ({key_arn})"),
        Change("kms-key-rotation", alias, Action.NOOP, "enabled")
        if rotating
        else Change(
            "kms-key-rotation", alias, Action.UPDATE, "rotation is off", run=enable_rotation
        ),
    ]
