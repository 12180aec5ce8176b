"""Where ngs_lake's AWS calls go: real AWS, or the local stand-in (moto plus our software gateway).

The choice is made by endpoint URLs and the deployment target's name, never by code paths: the same
boto3 clients serve both. `NGS_LAKE_AWS_ENDPOINT_URL` redirects every AWS service,
`NGS_LAKE_STORAGEGATEWAY_ENDPOINT_URL` the Storage Gateway API alone, and `NGS_LAKE_TARGET=local`
names the stand-in's documented limits (ARCHITECTURE §9) so code can respect them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_storagegateway import StorageGatewayClient
    from mypy_boto3_sts import STSClient

Target = Literal["local", "aws"]

ENDPOINT_ENV = "NGS_LAKE_AWS_ENDPOINT_URL"
STORAGEGATEWAY_ENDPOINT_ENV = "NGS_LAKE_STORAGEGATEWAY_ENDPOINT_URL"
TARGET_ENV = "NGS_LAKE_TARGET"

# Standard retry mode backs off on throttling and 5xx; the timeouts keep a hung endpoint from
# holding a sensor tick or an apply forever.
_BOTOCORE_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
)


def reach_endpoint_as_given(s3control: Any) -> None:
    """S3 Control's endpoint rules put the account id before the host
    (`<account>.s3-control.<region>.amazonaws.com`, and likewise `<account>.<custom host>`);
    a configured endpoint (the local stand-in, which takes the account from the
    x-amz-account-id header as AWS does) is reached as given. Registered with botocore's
    documented event system, before the request is signed."""

    def strip_account(request: Any, **_: Any) -> None:
        account = request.headers.get("x-amz-account-id")
        if account:
            value = account.decode() if isinstance(account, bytes) else account
            request.url = request.url.replace(f"://{value}.", "://", 1)

    s3control.meta.events.register("before-sign.s3-control", strip_account)


@dataclass(frozen=True)
class AwsTarget:
    """Region, endpoints and profile: everything that decides where a call lands."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    storagegateway_endpoint_url: str | None = None
    profile: str | None = None
    name: Target = "aws"

    @classmethod
    def from_environment(
        cls, region: str | None = None, environ: Mapping[str, str] | None = None
    ) -> AwsTarget:
        """Read the NGS_LAKE_* variables; AWS_REGION wins over the config document's region."""
        env = os.environ if environ is None else environ
        name = env.get(TARGET_ENV, "aws")
        if name not in ("local", "aws"):
            raise ValueError(f"{TARGET_ENV}={name!r}: expected 'local' or 'aws'")
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or region or "us-east-1",
            endpoint_url=env.get(ENDPOINT_ENV) or None,
            storagegateway_endpoint_url=env.get(STORAGEGATEWAY_ENDPOINT_ENV) or None,
            profile=env.get("AWS_PROFILE") or None,
            name=name,  # type: ignore[arg-type]
        )

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    def environment(self) -> dict[str, str]:
        """The variables another process needs to reach the same target."""
        env = {TARGET_ENV: self.name, "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            env[ENDPOINT_ENV] = self.endpoint_url
        if self.storagegateway_endpoint_url:
            env[STORAGEGATEWAY_ENDPOINT_ENV] = self.storagegateway_endpoint_url
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        return env


@dataclass
class AwsClients:
    """Lazily built, cached boto3 clients for one target; safe to share between threads."""

    target: AwsTarget
    credentials: Mapping[str, str] | None = field(default=None, repr=False)
    # A caller may pass its own session, e.g. one with botocore event hooks registered.
    session: boto3.Session | None = field(default=None, repr=False)
    botocore_config: Config = field(default=_BOTOCORE_CONFIG, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _bounded: dict[tuple[float, int], AwsClients] = field(default_factory=dict, repr=False)
    _account_id: str | None = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        # boto3 sessions are not thread-safe while building clients; built clients are.
        with self._lock:
            if service not in self._clients:
                if self.session is None:
                    self.session = boto3.Session(profile_name=self.target.profile)
                endpoint = (
                    self.target.storagegateway_endpoint_url
                    if service == "storagegateway"
                    else self.target.endpoint_url
                )
                config = self.botocore_config
                if service == "s3":
                    # Presigned links (the reports') must be SigV4, which S3 requires for
                    # SSE-KMS objects; botocore presigns with SigV2 unless told:
                    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingAWSSDK.html
                    config = config.merge(Config(signature_version="s3v4"))
                # Without explicit credentials boto3 uses the standard AWS chain.
                self._clients[service] = self.session.client(
                    service,
                    region_name=self.target.region,
                    endpoint_url=endpoint,
                    config=config,
                    **dict(self.credentials or {}),
                )
                if service == "s3control" and endpoint:
                    reach_endpoint_as_given(self._clients[service])
            return self._clients[service]

    def bounded(self, read_timeout: float, max_attempts: int) -> AwsClients:
        """The same target with tighter timeouts and at most `max_attempts` requests per call
        (the first included), for calls made inside a sensor tick: a hung endpoint then costs
        the tick seconds, not the whole sensor timeout.
        Kept with these clients, sharing their session and its lock, so a tick builds none."""
        with self._lock:
            if (read_timeout, max_attempts) not in self._bounded:
                if self.session is None:
                    self.session = boto3.Session(profile_name=self.target.profile)
                # `total_max_attempts` counts the first request; botocore's `max_attempts`
                # counts retries only, so max_attempts=1 would make two requests:
                # https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html
                config = _BOTOCORE_CONFIG.merge(
                    Config(
                        connect_timeout=min(5.0, read_timeout),
                        read_timeout=read_timeout,
                        retries={"mode": "standard", "total_max_attempts": max_attempts},
                    )
                )
                self._bounded[(read_timeout, max_attempts)] = AwsClients(
                    self.target, self.credentials, self.session, config, _lock=self._lock
                )
            return self._bounded[(read_timeout, max_attempts)]

    def s3(self) -> S3Client:
        return self.client("s3")

    def sqs(self) -> SQSClient:
        return self.client("sqs")

    def sns(self) -> SNSClient:
        return self.client("sns")

    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")

    def events(self) -> EventBridgeClient:
        return self.client("events")

    def kms(self) -> KMSClient:
        return self.client("kms")

    def sts(self) -> STSClient:
        return self.client("sts")

    def storagegateway(self) -> StorageGatewayClient:
        return self.client("storagegateway")

    def account_id(self) -> str:
        """The caller's account, asked once: it cannot change for a set of credentials."""
        if self._account_id is None:
            self._account_id = self.sts().get_caller_identity()["Account"]
        return self._account_id
