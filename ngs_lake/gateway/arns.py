"""ARNs and ids in AWS's own forms, so nothing downstream can tell a software gateway from AWS."""

from __future__ import annotations

import hashlib
import secrets


def gateway_arn(region: str, account: str, gateway_id: str) -> str:
    """A stable `sgw-XXXXXXXX` ARN per configured gateway id, so restarts keep the same ARN."""
    digest = hashlib.sha256(gateway_id.encode()).hexdigest()[:8].upper()
    return f"arn:aws:storagegateway:{region}:{account}:gateway/sgw-{digest}"


def new_share_arn(region: str, account: str) -> str:
    return f"arn:aws:storagegateway:{region}:{account}:share/share-{secrets.token_hex(4).upper()}"


def share_id(share_arn: str) -> str:
    return share_arn.rsplit("/", 1)[-1]


def bucket_of_location(location_arn: str) -> str:
    """`arn:aws:s3:::bucket/prefix/` -> `bucket`."""
    return location_arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
