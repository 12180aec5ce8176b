"""The shares the gateway serves, as its loops see them: folder, bucket, settling, encryption.

Read from the registry on every pass, so a share created or deleted through the API is picked up
without a restart.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ngs_lake.gateway.arns import bucket_of_location
from ngs_lake.gateway.registry import ShareRecord, ShareRegistry
from ngs_lake.gateway.share_folders import share_folder
from ngs_lake.gateway.uploader import encryption_arguments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Share:
    arn: str
    gateway_arn: str
    gateway_name: str
    name: str
    bucket: str
    prefix: str
    root: Path
    settling_seconds: float
    # AWS keeps uploading a share it is deleting until its data is in S3; so does this gateway,
    # and announces it too, but scans it no more (DeleteFileShare).
    deleting: bool = False
    # The share's EncryptionType and KMSKey as S3 arguments, sent with every upload.
    encryption: dict[str, str] = field(default_factory=dict)


def served_shares(registry: ShareRegistry, share_root: Path, refused: set[str]) -> list[Share]:
    """Every registered share of a registered gateway whose folder lies inside `share_root`;
    `refused` remembers the shares already logged as not served, so each is logged once."""
    gateways = {g.arn: g for g in registry.gateways()}
    out = []
    for record in registry.shares():
        gateway = gateways.get(record.gateway_arn)
        root = _folder(share_root, gateway.name, record, refused) if gateway else None
        if gateway is None or root is None:
            continue
        policy = json.loads(record.info.get("NotificationPolicy") or "{}")
        location = record.info["LocationARN"].removeprefix("arn:aws:s3:::")
        out.append(
            Share(
                arn=record.arn,
                gateway_arn=gateway.arn,
                gateway_name=gateway.name,
                name=record.name,
                bucket=bucket_of_location(record.info["LocationARN"]),
                prefix=location.split("/", 1)[1] if "/" in location else "",
                root=root,
                settling_seconds=policy.get("Upload", {}).get("SettlingTimeInSeconds", 0),
                deleting=record.info.get("FileShareStatus") == "DELETING",
                encryption=encryption_arguments(record.info),
            )
        )
    return out


def _folder(
    share_root: Path, gateway_name: str, record: ShareRecord, refused: set[str]
) -> Path | None:
    """None for a share registered before names were checked whose folder lies outside the
    share root: it is neither scanned nor uploaded."""
    try:
        return share_folder(share_root, gateway_name, record.name)
    except ValueError as exc:
        if record.arn not in refused:
            refused.add(record.arn)
            log.error("share %s is not served: %s", record.arn, exc)
        return None
