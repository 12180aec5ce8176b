# ruff: noqa: N803 - the fakes take boto3's own parameter names
"""The Storage Gateway API as the run core calls it (NotifyWhenUploaded, ListGateways,
DescribeCache, ListTagsForResource), answering from the simulated gateways' caches.

Errors leave in AWS's shape, as our software gateway (ngs_lake/gateway/api.py) sends them:
`InvalidGatewayRequestException` with an `error.errorCode` such as FileShareNotFound or
GatewayNotConnected (https://docs.aws.amazon.com/storagegateway/latest/APIReference/CommonErrors.html,
https://docs.aws.amazon.com/storagegateway/latest/APIReference/API_NotifyWhenUploaded.html).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake_tests.simulation.clock import VirtualClock
from ngs_lake_tests.simulation.fake_sqs import ACCOUNT, REGION

CACHE_BYTES = 16 * 2**40


def gateway_error(error_code: str, message: str, operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "InvalidGatewayRequestException", "Message": message},
            "error": {"errorCode": error_code, "errorDetails": {}},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        operation,
    )


@dataclass
class SimGateway:
    config_id: str  # the document's gateway id
    arn: str
    name: str  # GatewayName: the config id, unless the document names it by `arn`
    skew_seconds: float = 0.0  # the appliance's clock minus true time
    connected: bool = True
    dirty: set[str] = field(default_factory=set)  # cached paths not yet in S3


@dataclass
class SimShare:
    arn: str
    gateway_arn: str
    sequencer_id: str
    tags: dict[str, str]
    retired: bool = False


@dataclass
class NotificationRequest:
    notification_id: str
    share_arn: str
    requested_at: float  # true time
    covers: set[str]  # the share's dirty paths when it was asked


class FakeStorageGateway:
    def __init__(self, clock: VirtualClock, rng: random.Random) -> None:
        self.clock = clock
        self.rng = rng
        self.gateways: dict[str, SimGateway] = {}
        self.shares: dict[str, SimShare] = {}
        self.requests: list[NotificationRequest] = []
        self.on_request: Callable[[NotificationRequest], None] = lambda request: None

    def add_gateway(self, config_id: str, name: str | None = None) -> SimGateway:
        arn = (
            f"arn:aws:storagegateway:{REGION}:{ACCOUNT}:gateway/sgw-{self.rng.getrandbits(32):08X}"
        )
        gateway = SimGateway(config_id, arn, name or config_id)
        self.gateways[arn] = gateway
        return gateway

    def add_share(self, gateway: SimGateway, sequencer_id: str, tags: dict[str, str]) -> SimShare:
        arn = (
            f"arn:aws:storagegateway:{REGION}:{ACCOUNT}:share/share-{self.rng.getrandbits(32):08X}"
        )
        share = SimShare(arn, gateway.arn, sequencer_id, tags)
        self.shares[arn] = share
        return share

    def gateway_of_share(self, share_arn: str) -> SimGateway:
        return self.gateways[self.shares[share_arn].gateway_arn]

    # The API

    def notify_when_uploaded(self, FileShareARN: str) -> dict[str, Any]:
        share = self.shares.get(FileShareARN)
        if share is None or share.retired:
            raise gateway_error(
                "FileShareNotFound",
                f"The specified file share was not found: {FileShareARN}",
                "NotifyWhenUploaded",
            )
        gateway = self.gateways[share.gateway_arn]
        if not gateway.connected:
            raise gateway_error(
                "GatewayNotConnected",
                f"The specified gateway is not connected: {gateway.arn}",
                "NotifyWhenUploaded",
            )
        prefix = f"{share.arn}|"
        request = NotificationRequest(
            str(uuid.UUID(int=self.rng.getrandbits(128))),
            share.arn,
            self.clock.timestamp(),
            {p for p in gateway.dirty if p.startswith(prefix)},
        )
        self.requests.append(request)
        self.on_request(request)
        return {"FileShareARN": share.arn, "NotificationId": request.notification_id}

    def list_gateways(self, Marker: str | None = None, Limit: int | None = None) -> dict:
        return {
            "Gateways": [
                {
                    "GatewayId": g.arn.rsplit("/", 1)[-1],
                    "GatewayARN": g.arn,
                    "GatewayType": "FILE_S3",
                    "GatewayOperationalState": "ACTIVE",
                    "GatewayName": g.name,
                    "HostEnvironment": "OTHER",
                }
                for g in self.gateways.values()
            ]
        }

    def describe_cache(self, GatewayARN: str) -> dict:
        gateway = self.gateways.get(GatewayARN)
        if gateway is None:
            raise gateway_error(
                "GatewayNotFound",
                f"The specified gateway was not found: {GatewayARN}",
                "DescribeCache",
            )
        if not gateway.connected:
            raise gateway_error(
                "GatewayNotConnected",
                f"The specified gateway is not connected: {GatewayARN}",
                "DescribeCache",
            )
        dirty = 100.0 * len(gateway.dirty) * 2**30 / CACHE_BYTES  # a GiB a file
        return {
            "GatewayARN": gateway.arn,
            "DiskIds": [],
            "CacheAllocatedInBytes": CACHE_BYTES,
            "CacheUsedPercentage": dirty,
            "CacheDirtyPercentage": dirty,
            "CacheHitPercentage": 100.0,
            "CacheMissPercentage": 0.0,
        }

    def list_tags_for_resource(self, ResourceARN: str, Marker: str | None = None) -> dict:
        share = self.shares.get(ResourceARN)
        tags = share.tags if share else {}
        return {
            "ResourceARN": ResourceARN,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }

    def get_paginator(self, operation: str) -> _Paginator:
        if operation != "list_gateways":
            raise NotImplementedError(operation)
        return _Paginator(self.list_gateways)


@dataclass
class _Paginator:
    call: Callable[..., dict]

    def paginate(self, **kwargs: Any) -> Iterator[dict]:
        yield self.call(**kwargs)
