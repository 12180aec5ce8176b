"""The Storage Gateway calls the pipeline makes, through boto3's own `storagegateway` client.

The same code reaches an S3 File Gateway on AWS and the software gateway locally (ARCHITECTURE
§4). Share tags change only when provisioning runs, so they are cached per share.

Every failed call leaves as one typed error, `GatewayCallFailed`, naming the call and AWS's
code, so the run core can isolate it per run, share or gateway instead of stopping its tick.
Gateways are matched by the ARN the document gives (`gateways[].arn`), else by GatewayName:
an activated appliance's name is whatever its operator typed, its ARN is what it is.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

# Errors that no retry can heal: the share or gateway is gone (a retired share after a
# sequencer move, a deleted gateway). AWS names them in the `error.errorCode` of an
# InvalidGatewayRequestException:
# https://docs.aws.amazon.com/storagegateway/latest/APIReference/API_StorageGatewayError.html
# (FileShareNotFound is the code the API gives for a file share ARN it does not hold.)
PERMANENT_CODES = frozenset({"FileShareNotFound", "GatewayNotFound"})


class GatewayCallFailed(Exception):
    """A Storage Gateway call that failed: refused (its AWS error code, e.g. FileShareNotFound,
    GatewayNotConnected), or unanswered (the botocore error's name, e.g. ReadTimeoutError)."""

    def __init__(self, call: str, code: str, message: str) -> None:
        super().__init__(f"{call}: {code}: {message}")
        self.call = call
        self.code = code
        self.message = message


def call_failed(call: str, exc: Exception) -> GatewayCallFailed:
    """botocore's error as a GatewayCallFailed. A refusal carries the service's detail in
    `error.errorCode` (botocore keeps the modeled fields beside `Error`); an unanswered call
    is named by its botocore error (ReadTimeoutError, EndpointConnectionError, ...)."""
    if isinstance(exc, ClientError):
        detail = exc.response.get("error") or {}
        code = detail.get("errorCode") or exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        return GatewayCallFailed(call, code, message)
    return GatewayCallFailed(call, type(exc).__name__, str(exc))


@contextmanager
def _calling(call: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        raise call_failed(call, exc) from exc


def lake_gateway_ids(
    listed: list[dict[str, Any]], configured: Mapping[str, str | None]
) -> dict[str, str]:
    """ListGateways' ARNs -> the document's gateway ids: by the document's `arn` where it gives
    one, else by GatewayName. A listed gateway the document does not name is left out."""
    by_arn = {arn: gateway_id for gateway_id, arn in configured.items() if arn}
    named = {gateway_id for gateway_id, arn in configured.items() if not arn}
    out = {}
    for gateway in listed:
        arn, name = gateway["GatewayARN"], gateway.get("GatewayName", "")
        if arn in by_arn:
            out[arn] = by_arn[arn]
        elif name in named:
            out[arn] = name
    return out


def list_gateways(client: Any) -> list[dict[str, Any]]:
    with _calling("ListGateways"):
        return [
            g for page in client.get_paginator("list_gateways").paginate() for g in page["Gateways"]
        ]


class StorageGatewayShares:
    """`gateway_arns`: the document's gateway ids -> their configured `arn` (None: matched by
    GatewayName)."""

    def __init__(self, client: Any, gateway_arns: Mapping[str, str | None] | None = None) -> None:
        self._client = client
        self._gateway_arns = dict(gateway_arns or {})
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def notify_when_uploaded(self, share_arn: str) -> str:
        """Ask for one upload-complete event once all that is on the share now is in S3."""
        with _calling("NotifyWhenUploaded"):
            return self._client.notify_when_uploaded(FileShareARN=share_arn)["NotificationId"]

    def cache_dirty(self, gateway_id: str) -> bool | None:
        """Whether the gateway's cache holds data not yet in S3 (DescribeCache's
        CacheDirtyPercentage); None when the API does not list the gateway (by its configured
        ARN, else by name): unknown, which the caller reports, never a silent "dirty".
        https://docs.aws.amazon.com/storagegateway/latest/APIReference/API_DescribeCache.html"""
        configured = {gateway_id: self._gateway_arns.get(gateway_id)}
        ids = lake_gateway_ids(list_gateways(self._client), configured)
        arn = next((a for a, g in ids.items() if g == gateway_id), None)
        if arn is None:
            return None
        with _calling("DescribeCache"):
            cache = self._client.describe_cache(GatewayARN=arn)
        return float(cache.get("CacheDirtyPercentage", 0.0)) > 0

    def tags(self, share_arn: str) -> dict[str, str]:
        """The share's tags; none for a share the API no longer holds (retired after a
        sequencer move), so a run on it can still be announced from the ledger's own fields.
        Other errors leave as botocore raised them, for the announce pass to count."""
        with self._lock:
            if share_arn not in self._tags:
                try:
                    self._tags[share_arn] = self._read_tags(share_arn)
                except ClientError as exc:
                    if (exc.response.get("error") or {}).get("errorCode") != "FileShareNotFound":
                        raise
                    self._tags[share_arn] = {}
            return dict(self._tags[share_arn])

    def _read_tags(self, share_arn: str) -> dict[str, str]:
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
                return tags


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


def cache_backlog(
    client: Any,
    software_gateway_url: str | None = None,
    configured: Mapping[str, str | None] | None = None,
    problems: list[str] | None = None,
) -> list[CacheBacklog]:
    """Every gateway's cache figures from DescribeCache (percentages of the allocation, as AWS
    reports them), plus the oldest dirty file's age from the software gateway's /v1/cache.
    `configured` (the document's gateway ids -> `arn`): each gateway is named by the id the
    document gives it, matched by ARN where the document has one (`lake_gateway_ids`), else by
    its GatewayName. `problems` given: a gateway whose DescribeCache fails (an appliance that
    is offline answers GatewayNotConnected) is left out and named there, so one gateway does
    not hide the others; otherwise its error is raised."""
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
    listed = [
        g for page in client.get_paginator("list_gateways").paginate() for g in page["Gateways"]
    ]
    ids = lake_gateway_ids(listed, configured or {})
    for gateway in listed:
        arn = gateway["GatewayARN"]
        try:
            cache = client.describe_cache(GatewayARN=arn)
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            if problems is None:
                raise
            name = ids.get(arn) or gateway.get("GatewayName", arn)
            problems.append(f"gateway {name}: {call_failed('DescribeCache', exc)}")
            continue
        allocated = int(cache.get("CacheAllocatedInBytes", 0))
        out.append(
            CacheBacklog(
                gateway_id=ids.get(arn) or gateway.get("GatewayName", arn),
                gateway_arn=arn,
                cache_bytes=allocated,
                used_bytes=round(allocated * cache.get("CacheUsedPercentage", 0.0) / 100),
                dirty_bytes=round(allocated * cache.get("CacheDirtyPercentage", 0.0) / 100),
                oldest_dirty_age_seconds=ages.get(arn),
            )
        )
    return out
