"""Upload events in exactly the shape an S3 File Gateway emits (ARCHITECTURE §3).

Only the source differs by target: the appliance's own `aws.storagegateway` on the local stand-in,
and `ngs-lake.file-gateway` against a real event bus, which refuses `aws.*` sources from PutEvents.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

OBJECT_UPLOAD = "Storage Gateway Object Upload Event"
FILE_UPLOAD = "Storage Gateway File Upload Event"
REFRESH_CACHE = "Storage Gateway Refresh Cache Event"
APPLIANCE_SOURCE = "aws.storagegateway"
SOFTWARE_SOURCE = "ngs-lake.file-gateway"


def event_source(is_local: bool) -> str:
    return APPLIANCE_SOURCE if is_local else SOFTWARE_SOURCE


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_upload_entry(
    *,
    source: str,
    share_arn: str,
    gateway_arn: str,
    bucket: str,
    prefix: str,
    key: str,
    size: int,
    modified_at: float,
    uploaded_at: float,
) -> dict[str, Any]:
    """A PutEvents entry; EventBridge adds version, id, account and region around it."""
    detail = {
        "object-size": size,
        "modification-time": iso(modified_at),
        "object-key": key,
        "event-type": "object-upload-complete",
        "prefix": prefix,
        "bucket-name": bucket,
    }
    return {
        "Time": datetime.fromtimestamp(uploaded_at, UTC),
        "Source": source,
        "DetailType": OBJECT_UPLOAD,
        "Resources": [share_arn, gateway_arn, f"arn:aws:s3:::{bucket}"],
        "Detail": json.dumps(detail),
    }


def upload_notification_entry(
    *,
    source: str,
    share_arn: str,
    gateway_arn: str,
    notification_id: str,
    requested_at: float,
    completed_at: float,
) -> dict[str, Any]:
    detail = {
        "event-type": "upload-complete",
        "notification-id": notification_id,
        "request-received": iso(requested_at),
        "completed": iso(completed_at),
    }
    return {
        "Time": datetime.fromtimestamp(completed_at, UTC),
        "Source": source,
        "DetailType": FILE_UPLOAD,
        "Resources": [share_arn, gateway_arn],
        "Detail": json.dumps(detail),
    }


def refresh_cache_entry(
    *, source: str, share_arn: str, gateway_arn: str, notification_id: str, now: float
) -> dict[str, Any]:
    detail = {
        "event-type": "refresh-complete",
        "notification-id": notification_id,
        "started": iso(now),
        "completed": iso(now),
    }
    return {
        "Time": datetime.fromtimestamp(now, UTC),
        "Source": source,
        "DetailType": REFRESH_CACHE,
        "Resources": [share_arn, gateway_arn],
        "Detail": json.dumps(detail),
    }
