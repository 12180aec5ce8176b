"""The gateway's cache figures per share and per gateway: what AWS reports as CloudWatch metrics
(CachePercentDirty, ...), served on /v1/cache for `ngs-lake status` and behind DescribeCache."""

from __future__ import annotations

import time
from typing import Any

from ngs_lake.gateway.registry import GatewayRecord
from ngs_lake.gateway.shares import Share
from ngs_lake.gateway.state import UploadState


def cache_figures(
    gateway_records: list[GatewayRecord], shares: list[Share], state: UploadState
) -> dict[str, Any]:
    """Bytes per share and per gateway: used, dirty, and the oldest dirty file's age."""
    now = time.time()
    gateways: dict[str, dict[str, Any]] = {}
    for record in gateway_records:
        gateways[record.arn] = {
            "gateway_id": record.name,
            "gateway_arn": record.arn,
            "cache_bytes": record.cache_bytes,
            "used_bytes": 0,
            "dirty_bytes": 0,
            "dirty_files": 0,
            "oldest_dirty_age_seconds": None,
            "shares": [],
        }
    for share in shares:
        cache = state.share_cache(share.arn)
        age = None if cache.oldest_dirty_at is None else max(0.0, now - cache.oldest_dirty_at)
        gateway = gateways[share.gateway_arn]
        gateway["shares"].append(
            {
                "share_arn": share.arn,
                "share_name": share.name,
                "share_status": "DELETING" if share.deleting else "AVAILABLE",
                "files": cache.files,
                "used_bytes": cache.used_bytes,
                "dirty_bytes": cache.dirty_bytes,
                "dirty_files": cache.dirty_files,
                "oldest_dirty_age_seconds": age,
                "events_pending": cache.events_pending,
            }
        )
        gateway["used_bytes"] += cache.used_bytes
        gateway["dirty_bytes"] += cache.dirty_bytes
        gateway["dirty_files"] += cache.dirty_files
        if age is not None:
            gateway["oldest_dirty_age_seconds"] = max(
                age, gateway["oldest_dirty_age_seconds"] or 0.0
            )
    return {"gateways": list(gateways.values())}
