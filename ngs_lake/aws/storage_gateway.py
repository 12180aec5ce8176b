"""The Storage Gateway calls the pipeline makes, through boto3's own `storagegateway` client.

The same code reaches an S3 File Gateway on AWS and the software gateway locally (ARCHITECTURE
§4). Share tags change only when provisioning runs, so they are cached per share.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any


class StorageGatewayShares:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def notify_when_uploaded(self, share_arn: str) -> str:
        """Ask for one upload-complete event once all that is on the share now is in S3."""
        return self._client.notify_when_uploaded(FileShareARN=share_arn)["NotificationId"]

    def cache_dirty(self, gateway_name: str) -> bool:
        """Whether the gateway's cache holds data not yet in S3 (DescribeCache's
        CacheDirtyPercentage). A gateway the API does not list counts as dirty: the lake cannot
        tell, so it assumes uploads may be waiting.
        https://docs.aws.amazon.com/storagegateway/latest/APIReference/API_DescribeCache.html"""
        for page in self._client.get_paginator("list_gateways").paginate():
            for gateway in page["Gateways"]:
                if gateway.get("GatewayName") == gateway_name:
                    cache = self._client.describe_cache(GatewayARN=gateway["GatewayARN"])
                    return float(cache.get("CacheDirtyPercentage", 0.0)) > 0
        return True

    def tags(self, share_arn: str) -> dict[str, str]:
        with self._lock:
            if share_arn not in self._tags:
                tags: dict[str, str] = {}
                marker = None
                while True:
                    kwargs: dict[str, Any] = {"ResourceARN": share_arn}
                    if marker:
                        kwargs["Marker"] = marker
                    page = self._client.list_tags_for_resource(**kwargs)
                    tags |= {t["Key"]: t["Value"] for t in page.get("Tags", [])}
                    marker = page.get("Marker")
                    if not marker:
                        break
                self._tags[share_arn] = tags
            return dict(self._tags[share_arn])


@dataclass(frozen=True)
class CacheBacklog:
    """A gateway's cache: its size, what is in it, and what is still waiting to reach S3."""

    gateway_id: str
    gateway_arn: str
    cache_bytes: int
    used_bytes: int
    dirty_bytes: int
    # The oldest file not yet in S3; None when nothing is waiting, or when the gateway does not
    # say (an AWS appliance reports it only as a CloudWatch metric).
    oldest_dirty_age_seconds: float | None


def cache_backlog(client: Any, software_gateway_url: str | None = None) -> list[CacheBacklog]:
    """Every gateway's cache figures from DescribeCache (percentages of the allocation, as AWS
    reports them), plus the oldest dirty file's age from the software gateway's /v1/cache."""
    ages: dict[str, float | None] = {}
    if software_gateway_url:
        url = software_gateway_url.rstrip("/") + "/v1/cache"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                for g in json.load(answer)["gateways"]:
                    ages[g["gateway_arn"]] = g["oldest_dirty_age_seconds"]
        except (OSError, ValueError, KeyError):  # not our software gateway: no ages, as on AWS
            ages = {}
    out = []
    for page in client.get_paginator("list_gateways").paginate():
        for gateway in page["Gateways"]:
            arn = gateway["GatewayARN"]
            cache = client.describe_cache(GatewayARN=arn)
            allocated = int(cache.get("CacheAllocatedInBytes", 0))
            out.append(
                CacheBacklog(
                    gateway_id=gateway.get("GatewayName", arn),
                    gateway_arn=arn,
                    cache_bytes=allocated,
                    used_bytes=round(allocated * cache.get("CacheUsedPercentage", 0.0) / 100),
                    dirty_bytes=round(allocated * cache.get("CacheDirtyPercentage", 0.0) / 100),
                    oldest_dirty_age_seconds=ages.get(arn),
                )
            )
    return out
