"""Each sequencer's SMB share on its gateway, and its entry in the `shares` catalogue table.

Shares are made through boto3's `storagegateway` client, the same calls on AWS and on the local
software gateway. A gateway is found by its name (ListGateways) unless the document gives its ARN.
A moved sequencer gets its new share first; the old one is retired only once its gateway reports no
dirty cache, so no file written before the move is stranded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ngs_lake.config.model import Sequencer
from ngs_lake.provisioning.bucket_specs import sequencer_tags
from ngs_lake.provisioning.context import ProvisioningContext
from ngs_lake.provisioning.plan import Action, Change, ProvisioningRefused, setting_change

_SERIALIZE = TypeSerializer().serialize
_DESERIALIZE = TypeDeserializer().deserialize
PENDING_ARN = "<assigned when the share is created>"


@dataclass(frozen=True)
class ExistingShare:
    arn: str
    gateway_arn: str
    name: str
    notification_policy: dict[str, Any]
    tags: dict[str, str]


def mount_address(gateway_ip: str, share_name: str) -> str:
    return f"\\\\{gateway_ip}\\{share_name}"


def notification_policy(settling_seconds: int) -> dict[str, Any]:
    """Per-object upload events after the file has settled (ARCHITECTURE §3)."""
    return {"Upload": {"SettlingTimeInSeconds": settling_seconds}}


def client_token(gateway_arn: str, sequencer_id: str) -> str:
    """Deterministic, so a create retried after a crash returns the same share."""
    return hashlib.sha256(f"{gateway_arn}|{sequencer_id}".encode()).hexdigest()[:40]


def resolve_gateway_arns(ctx: ProvisioningContext) -> dict[str, str]:
    """Config gateway id -> ARN: the document's `arn`, else the gateway named so (ListGateways)."""
    by_name: dict[str, str] = {}
    paginator = ctx.clients.storagegateway().get_paginator("list_gateways")
    for page in paginator.paginate():
        for gateway in page["Gateways"]:
            by_name.setdefault(gateway.get("GatewayName", ""), gateway["GatewayARN"])
    resolved, missing = {}, []
    endpoint = ctx.clients.target.storagegateway_endpoint_url or "AWS"
    for g in ctx.config.gateways:
        arn = g.arn or by_name.get(g.id)
        if arn is None:
            missing.append(
                f"gateways[{g.id}]: no gateway named {g.id!r} on the Storage Gateway API at "
                f"{endpoint}; activate it under that name, or set gateways[{g.id}].arn"
            )
        else:
            resolved[g.id] = arn
    if missing:
        raise ProvisioningRefused(missing)
    return resolved


def existing_shares(ctx: ProvisioningContext, gateway_arns: set[str]) -> list[ExistingShare]:
    sgw = ctx.clients.storagegateway()
    arns: list[str] = []
    for gateway_arn in sorted(gateway_arns):
        try:
            listed = sgw.list_file_shares(GatewayARN=gateway_arn)
        except sgw.exceptions.InvalidGatewayRequestException:
            continue  # a gateway that no longer exists holds no shares we could manage
        arns += [
            s["FileShareARN"] for s in listed["FileShareInfoList"] if s["FileShareType"] == "SMB"
        ]
    shares = []
    for start in range(0, len(arns), 10):
        for info in sgw.describe_smb_file_shares(FileShareARNList=arns[start : start + 10])[
            "SMBFileShareInfoList"
        ]:
            shares.append(
                ExistingShare(
                    arn=info["FileShareARN"],
                    gateway_arn=info["GatewayARN"],
                    name=info["FileShareName"],
                    notification_policy=json.loads(info.get("NotificationPolicy") or "{}"),
                    tags={t["Key"]: t["Value"] for t in info.get("Tags", [])},
                )
            )
    return shares


def catalogue_items(ctx: ProvisioningContext) -> dict[str, dict[str, Any]]:
    """The `shares` table as it stands; empty before the table exists."""
    items: dict[str, dict[str, Any]] = {}
    try:
        pages = (
            ctx.clients.dynamodb()
            .get_paginator("scan")
            .paginate(TableName=ctx.names.shares_table, ConsistentRead=True)
        )
        for page in pages:
            for raw in page["Items"]:
                item = {k: _DESERIALIZE(v) for k, v in raw.items()}
                items[item["sequencer_id"]] = item
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return items


def plan_sequencer_share(
    ctx: ProvisioningContext,
    sequencer: Sequencer,
    gateway_arns: dict[str, str],
    shares: list[ExistingShare],
    catalogued: dict[str, Any] | None,
) -> list[Change]:
    """The share change (create, update, move or no-op), then the catalogue entry's."""
    sgw = ctx.clients.storagegateway
    gateway = ctx.config.gateway(sequencer.gateway)
    target_arn = gateway_arns[gateway.id]
    bucket = ctx.names.bucket(sequencer.id)
    tags = sequencer_tags(ctx.config, sequencer)
    policy = notification_policy(ctx.config.lake.settling_time_seconds)
    mine = [s for s in shares if s.name == sequencer.id]
    on_target = next((s for s in mine if s.gateway_arn == target_arn), None)
    elsewhere = [s for s in mine if s.gateway_arn != target_arn]
    created: dict[str, str] = {}

    def create() -> None:
        created["arn"] = sgw().create_smb_file_share(
            ClientToken=client_token(target_arn, sequencer.id),
            GatewayARN=target_arn,
            Role=ctx.config.lake.gateway_role_arn,
            LocationARN=f"arn:aws:s3:::{bucket}/",
            EncryptionType="SseKms",
            KMSKey=ctx.require_key_arn(),
            DefaultStorageClass="S3_STANDARD",
            ObjectACL="bucket-owner-full-control",
            Authentication=gateway.smb.authentication,
            FileShareName=sequencer.id,
            NotificationPolicy=json.dumps(policy),
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        )["FileShareARN"]

    def retire_old() -> None:
        for old in elsewhere:
            # Still dirty: the old share stays, and the next plan shows this move again.
            if sgw().describe_cache(GatewayARN=old.gateway_arn)["CacheDirtyPercentage"] == 0:
                sgw().delete_file_share(FileShareARN=old.arn)

    share_label = f"{gateway.id}/{sequencer.id}"
    if on_target is None and elsewhere:
        old_gateways = ", ".join(_gateway_name(gateway_arns, s.gateway_arn) for s in elsewhere)

        def move() -> None:
            create()
            retire_old()

        share_change = Change(
            "smb-share",
            share_label,
            Action.MOVE,
            f"sequencer moved from {old_gateways}; new share here, old share retired once "
            "its gateway has no dirty data",
            run=move,
        )
    elif on_target is None:
        share_change = Change(
            "smb-share", share_label, Action.CREATE, "share not found", run=create
        )
    else:
        created["arn"] = on_target.arn
        share_change = _plan_share_update(ctx, share_label, on_target, policy, tags)
        if elsewhere and share_change.action == Action.NOOP:
            share_change = Change(
                "smb-share",
                share_label,
                Action.MOVE,
                "old share still on its previous gateway; retiring it once that gateway has "
                "no dirty data",
                run=retire_old,
            )

    catalogue_change = _catalogue_change(ctx, sequencer, target_arn, tags, created, catalogued)
    return [share_change, catalogue_change]


def _catalogue_change(
    ctx: ProvisioningContext,
    sequencer: Sequencer,
    target_arn: str,
    tags: dict[str, str],
    created: dict[str, str],
    catalogued: dict[str, Any] | None,
) -> Change:
    """The `shares` catalogue entry: what the pipeline reads to map a share to its sequencer.

    `created` holds the share's ARN once the share change has run (or at once, for a share that
    exists), so the entry is written with the real ARN.
    """
    gateway = ctx.config.gateway(sequencer.gateway)
    bucket = ctx.names.bucket(sequencer.id)

    def desired_item(share_arn: str) -> dict[str, Any]:
        site = ctx.config.site(gateway.site)
        return {
            "sequencer_id": sequencer.id,
            "gateway_id": gateway.id,
            "gateway_arn": target_arn,
            "site": site.id,
            "lab": site.name,
            "timezone": site.timezone,
            "platform": sequencer.platform,
            "bucket": bucket,
            "share_name": sequencer.id,
            "share_arn": share_arn,
            "mount_address": mount_address(gateway.ip, sequencer.id),
            "tags": tags,
        }

    def put_item() -> None:
        item = desired_item(created["arn"])
        ctx.clients.dynamodb().put_item(
            TableName=ctx.names.shares_table, Item={k: _SERIALIZE(v) for k, v in item.items()}
        )

    return setting_change(
        "catalogue-entry",
        sequencer.id,
        catalogued,
        desired_item(created.get("arn", PENDING_ARN)),
        put_item,
        missing_reason="not catalogued",
    )


def _plan_share_update(
    ctx: ProvisioningContext,
    label: str,
    share: ExistingShare,
    policy: dict[str, Any],
    tags: dict[str, str],
) -> Change:
    sgw = ctx.clients.storagegateway

    def update() -> None:
        if share.notification_policy != policy:
            sgw().update_smb_file_share(
                FileShareARN=share.arn, NotificationPolicy=json.dumps(policy)
            )
        stale = [k for k in share.tags if k not in tags]
        if stale:
            sgw().remove_tags_from_resource(ResourceARN=share.arn, TagKeys=stale)
        if any(share.tags.get(k) != v for k, v in tags.items()):
            sgw().add_tags_to_resource(
                ResourceARN=share.arn,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )

    return setting_change(
        "smb-share",
        label,
        {"NotificationPolicy": share.notification_policy, "Tags": share.tags},
        {"NotificationPolicy": policy, "Tags": tags},
        update,
    )


def plan_retained(ctx: ProvisioningContext, catalogued: dict[str, dict[str, Any]]) -> list[Change]:
    """Sequencers catalogued but gone from the document: their WORM data is never deleted."""
    configured = {s.id for s in ctx.config.sequencers}
    changes = []
    for sequencer_id, item in sorted(catalogued.items()):
        if sequencer_id in configured:
            continue
        reason = f"{sequencer_id} is no longer in the config document; WORM data is never deleted"
        changes += [
            Change("s3-bucket", item["bucket"], Action.RETAINED, reason),
            Change("smb-share", f"{item['gateway_id']}/{sequencer_id}", Action.RETAINED, reason),
            Change("catalogue-entry", sequencer_id, Action.RETAINED, reason),
        ]
    return changes


def _gateway_name(gateway_arns: dict[str, str], arn: str) -> str:
    return next((gid for gid, garn in gateway_arns.items() if garn == arn), arn)
