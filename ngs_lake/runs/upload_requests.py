"""The NotifyWhenUploaded requests the lake made: asked, recorded, and found again by id.

An upload notification names only its notification id and share, and times on the gateway's
clock. The lake matches it to runs on its own clock instead: each request is recorded, under
its id, with the run it was made for and when the lake made it, in the `events` table (the
lake's record of what it took in and did). A notification is then looked up with a strongly
consistent GetItem, never through the eventually consistent by-state index alone, and it covers
every waiting run on the share whose own request the lake made no later.
https://docs.aws.amazon.com/storagegateway/latest/APIReference/API_NotifyWhenUploaded.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.runs.model import parse_iso, utc_iso

KIND = "upload-request"


def _event_id(notification_id: str) -> str:
    return f"{KIND}#{notification_id}"


@dataclass(frozen=True)
class UploadRequest:
    notification_id: str
    run_key: str
    share_arn: str
    requested_at: datetime  # the lake's clock


class UploadRequests:
    """Ask the gateway for an upload notification and record the request before it is used."""

    def __init__(
        self, ddb: Any, events_table: str, shares: StorageGatewayShares, ttl_days: int | None
    ) -> None:
        self.ddb = ddb
        self.table = events_table
        self.shares = shares
        self.ttl_days = ttl_days

    def ask(self, run_key: str, share_arn: str, now: datetime) -> UploadRequest:
        """NotifyWhenUploaded on the share, recorded under its id (kept as long as events)."""
        notification_id = self.shares.notify_when_uploaded(share_arn)
        item = {
            "event_id": {"S": _event_id(notification_id)},
            "kind": {"S": KIND},
            "run_key": {"S": run_key},
            "share_arn": {"S": share_arn},
            "received_at": {"S": utc_iso(now)},
        }
        if self.ttl_days:
            item["expires_at"] = {"N": str(int(now.timestamp()) + self.ttl_days * 86400)}
        self.ddb.put_item(TableName=self.table, Item=item)
        return UploadRequest(notification_id, run_key, share_arn, now)

    def find(self, notification_id: str) -> UploadRequest | None:
        """The lake's request behind a notification; None for one it did not record (made
        before this record existed, or by hand)."""
        item = self.ddb.get_item(
            TableName=self.table,
            Key={"event_id": {"S": _event_id(notification_id)}},
            ConsistentRead=True,
        ).get("Item")
        if not item or item.get("kind", {}).get("S") != KIND:
            return None
        return UploadRequest(
            notification_id,
            item["run_key"]["S"],
            item["share_arn"]["S"],
            parse_iso(item["received_at"]["S"]),
        )
