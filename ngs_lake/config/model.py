"""The lake config document's model: one pydantic model per entry, with the field rules each
entry must meet on its own. Cross-entry rules and loading live in `document`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ngs_lake.config.fixity_settings import FixitySettings
from ngs_lake.config.values import (
    Arn,
    BucketName,
    ByteSize,
    BytesPerHour,
    EventType,
    Id,
    PlatformId,
    ReadPrefix,
    Seconds,
    TimeZone,
    _compliance_only,
    _readable_inventory_format,
    _valid_ipv4,
    _valid_prefix,
)
from ngs_lake.platforms import family_of

SUPPORTED_VERSION = 1
MAX_RULE_NAME = 64  # EventBridge's limit
SECTIONS = (
    "version",
    "lake",
    "sites",
    "gateways",
    "sequencers",
    "consumers",
    "alerts",
    "fixity",
)

TARGET_ENV = "NGS_LAKE_TARGET"
LOCAL_TARGET = "local"


def deployment_target(environ: Mapping[str, str] | None = None) -> str:
    """The target the environment names (`NGS_LAKE_TARGET`); real AWS when unset, as
    `AwsTarget.from_environment` reads it."""
    return (os.environ if environ is None else environ).get(TARGET_ENV, "aws")


class LakeConfigError(ValueError):
    """The document is invalid; ``problems`` lists every problem, each naming entry and field."""

    def __init__(self, problems: list[str], source: str = "the lake config") -> None:
        self.problems = problems
        super().__init__(f"{source} has {len(problems)} problem(s):\n" + "\n".join(problems))


class StrictEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectLockPolicy(StrictEntry):
    # GOVERNANCE is S3's other mode: named, so that it is refused with the reason.
    mode: Annotated[Literal["COMPLIANCE", "GOVERNANCE"], AfterValidator(_compliance_only)] = (
        "COMPLIANCE"
    )
    retention_days: int = Field(gt=0)


class LifecycleTransition(StrictEntry):
    days: int = Field(ge=0)
    storage_class: Literal[
        "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"
    ]


InventoryField = Literal[
    "Size",
    "LastModifiedDate",
    "StorageClass",
    "ETag",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "EncryptionStatus",
    "ObjectLockRetainUntilDate",
    "ObjectLockMode",
    "ObjectLockLegalHoldStatus",
    "ChecksumAlgorithm",
]


DEFAULT_INVENTORY_FIELDS: tuple[InventoryField, ...] = (
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "EncryptionStatus",
    "ObjectLockMode",
    "ObjectLockRetainUntilDate",
    "ChecksumAlgorithm",
)


class InventorySettings(StrictEntry):
    bucket: BucketName
    prefix: str = "inventory"
    frequency: Literal["Daily", "Weekly"] = "Daily"
    # ORC is S3 Inventory's third format: named, so that it is refused with the reason.
    format: Annotated[
        Literal["CSV", "ORC", "Parquet"], AfterValidator(_readable_inventory_format)
    ] = "CSV"
    fields: tuple[InventoryField, ...] = DEFAULT_INVENTORY_FIELDS


class ReplicationSettings(StrictEntry):
    destination_bucket: BucketName
    region: str
    role_arn: Arn
    replica_kms_key_arn: Arn


class LakeSettings(StrictEntry):
    region: str = "us-east-1"
    prefix: Annotated[str, AfterValidator(_valid_prefix)]
    object_lock: ObjectLockPolicy
    kms_key_alias: str = Field(pattern=r"^alias/[A-Za-z0-9/_-]+$")
    lifecycle: tuple[LifecycleTransition, ...] = ()
    abort_incomplete_multipart_days: int = Field(default=7, gt=0)
    inventory: InventorySettings
    access_log_bucket: BucketName
    catalog_bucket: BucketName
    replication: ReplicationSettings | None = None
    gateway_role_arn: Arn
    break_glass_role_arn: Arn
    events_ttl_days: int | None = Field(default=None, gt=0)
    cache_buffer_days: float = Field(default=21, gt=0)
    max_sequencers_per_gateway: int = Field(default=10, gt=0)
    settling_time_seconds: int = Field(default=60, ge=0, le=3600)
    # How long a received event stays hidden from other consumers; it must outlast a sensor
    # tick (60 s), and bounds how soon an event a crashed tick held is delivered again.
    events_visibility_timeout_seconds: int = Field(default=180, gt=60, le=43200)
    # "one": every gateway's events share one queue and one sensor. "per-site": each site gets
    # its own queue, dead-letter queue, rule and sensor, so sites drain in parallel and a
    # backlog or poison message at one site never delays another (docs/deployers/scaling-out.md).
    event_queues: Literal["one", "per-site"] = "one"
    abort_after_stall_windows: int = Field(default=4, gt=0)
    # A gateway whose events stop for this long is reported silent once; its runs are judged
    # against its event-time watermark, so none of them stalls meanwhile.
    gateway_silence: Seconds = Field(default=7200, gt=0)
    # A lifecycle run (announce, verify, manifest) that fails is requested again after a
    # doubling backoff, this many times in all; then the run needs an operator.
    lifecycle_run_attempts: int = Field(default=5, gt=0, le=20)
    lifecycle_retry_backoff: Seconds = Field(default=30, gt=0)
    # The events sensor's own lifecycle work, after its drain (25 s): verifying confirmed runs
    # (a run whose listing does not fit is verified by a complete_run Dagster run), then
    # publishing owed messages (the rest wait a tick). Each may overrun by one 5 s call, so at
    # most 12 s each keeps the tick inside Dagster's 60 s sensor timeout.
    tick_verify_seconds: Seconds = Field(default=8, gt=0, le=12)
    tick_publish_seconds: Seconds = Field(default=8, gt=0, le=12)
    # Whether a saved change is applied without review (the `lake_config_changed` sensor
    # launches `provision_lake` itself). Unset: true on the local target only, whose stand-in
    # is wiped by every `make run`; true is refused on the aws target (document.py).
    auto_apply: bool | None = None

    def applies_automatically(self, target: str) -> bool:
        """`auto_apply` as in force on `target` ('local' or 'aws')."""
        return self.auto_apply if self.auto_apply is not None else target == LOCAL_TARGET

    # A run past its marker whose upload confirmation has not come within this window asks
    # the gateway again (NotifyWhenUploaded), once per window, 4 requests in all; then it is
    # alerted (`upload_unconfirmed`). The gateway waits `settling_time_seconds` before it
    # answers, so the window must be longer.
    upload_confirmation_window: Seconds = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _confirmation_window_outlasts_settling(self) -> LakeSettings:
        if self.upload_confirmation_window <= self.settling_time_seconds:
            raise ValueError(
                f"upload_confirmation_window: {self.upload_confirmation_window:g} s is not "
                f"longer than settling_time_seconds ({self.settling_time_seconds} s), which the "
                "gateway waits before it confirms an upload; make the window longer"
            )
        return self


class Site(StrictEntry):
    id: Id
    name: str
    timezone: TimeZone


class SmbAuthentication(StrictEntry):
    authentication: Literal["ActiveDirectory", "GuestAccess"]
    domain: str | None = None


class Gateway(StrictEntry):
    id: Id
    site: str
    ip: Annotated[str, AfterValidator(_valid_ipv4)]
    cache: ByteSize
    smb: SmbAuthentication
    arn: Arn | None = None


class Sequencer(StrictEntry):
    id: Id
    gateway: str
    platform: PlatformId
    data_rate: BytesPerHour
    stall_window: Seconds | None = None  # default: the platform family's


class Consumer(StrictEntry):
    name: Id
    principal: Arn
    event_types: tuple[EventType, ...] = Field(min_length=1)
    platforms: tuple[PlatformId, ...] = ()
    sites: tuple[str, ...] = ()
    read_prefixes: tuple[ReadPrefix, ...] = Field(min_length=1)


# The conditions the lake alerts its operators on (ngs_lake/alerts/), as subscribers filter on
# them: each is the `condition` message attribute of an alert on the operations topic.
ALERT_CONDITIONS = (
    "run_stalled",
    "run_incomplete",
    "run_needs_attention",
    "gateway_silent",
    "gateway_unknown",
    "dlq_message_old",
    "gateway_buffer_low",
    "inventory_audit_failed",
    "upload_backlog_growing",
    "config_invalid",
    "folder_unrecognised",
    "upload_unconfirmed",
    "fixity_mismatch",
)
ALERT_SEVERITIES = ("warning", "critical")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$")


def _valid_condition(value: str) -> str:
    if value not in ALERT_CONDITIONS:
        raise ValueError(
            f"unknown alert condition {value!r}; expected one of: {', '.join(ALERT_CONDITIONS)}"
        )
    return value


AlertCondition = Annotated[str, AfterValidator(_valid_condition)]


class AlertSubscription(StrictEntry):
    """One subscriber of the operations topic; `conditions` and `severities` become its SNS
    filter policy (empty: every alert)."""

    protocol: Literal["email", "https", "sqs"]
    endpoint: str
    conditions: tuple[AlertCondition, ...] = ()
    severities: tuple[Literal["warning", "critical"], ...] = ()

    @model_validator(mode="after")
    def _endpoint_fits_protocol(self) -> AlertSubscription:
        wanted = {
            "email": (_EMAIL, "an email address such as 'ops@lab.example'"),
            "https": (re.compile(r"^https://[^\s/]+(/\S*)?$"), "an https:// URL"),
            "sqs": (
                _QUEUE_ARN,
                "an SQS queue ARN such as 'arn:aws:sqs:us-east-1:123456789012:ops'",
            ),
        }
        pattern, words = wanted[self.protocol]
        if not pattern.match(self.endpoint):
            raise ValueError(f"endpoint {self.endpoint!r} is not {words} ({self.protocol})")
        return self


class AlertSettings(StrictEntry):
    """When the lake alerts its operators; each window can be given in seconds ("30s")."""

    evaluate_every: Seconds = Field(default=60, gt=0)  # the alerts sensor's interval
    dlq_message_age: Seconds = Field(default=3600, gt=0)  # a parked event older than this
    backlog_growth_window: Seconds = Field(default=7200, gt=0)  # a cache backlog growing this long
    subscriptions: tuple[AlertSubscription, ...] = ()


class LakeConfig(StrictEntry):
    """A validated document. Build it with `load_lake_config` or `parse_lake_document`."""

    version: Literal[1]
    lake: LakeSettings
    sites: tuple[Site, ...]
    gateways: tuple[Gateway, ...]
    sequencers: tuple[Sequencer, ...]
    consumers: tuple[Consumer, ...] = ()
    alerts: AlertSettings = AlertSettings()
    fixity: FixitySettings = FixitySettings()

    def site(self, site_id: str) -> Site:
        return next(s for s in self.sites if s.id == site_id)

    def gateway(self, gateway_id: str) -> Gateway:
        return next(g for g in self.gateways if g.id == gateway_id)

    def sequencer(self, sequencer_id: str) -> Sequencer:
        return next(s for s in self.sequencers if s.id == sequencer_id)

    def sequencers_on(self, gateway_id: str) -> list[Sequencer]:
        return [s for s in self.sequencers if s.gateway == gateway_id]

    def stall_window_seconds(self, sequencer_id: str) -> float:
        """How long a run may be silent before it counts as stalled."""
        sequencer = self.sequencer(sequencer_id)
        if sequencer.stall_window is not None:
            return sequencer.stall_window
        return family_of(sequencer.platform).default_stall_window.total_seconds()

    def site_of(self, sequencer: Sequencer) -> Site:
        return self.site(self.gateway(sequencer.gateway).site)

    def bucket_name(self, sequencer_id: str) -> str:
        return f"{self.lake.prefix}-{sequencer_id.lower()}"

    def buffer_days(self, gateway_id: str) -> float:
        """Days of full-time output from every attached sequencer that the gateway's cache holds."""
        return buffer_days(
            self.gateway(gateway_id).cache, [s.data_rate for s in self.sequencers_on(gateway_id)]
        )

    def consumer_sequencers(self, consumer: Consumer) -> list[Sequencer]:
        """The sequencers whose data and events a consumer's site and platform filters admit."""
        return [
            s
            for s in self.sequencers
            if (not consumer.platforms or s.platform in consumer.platforms)
            and (not consumer.sites or self.site_of(s).id in consumer.sites)
        ]


def buffer_days(cache_bytes: float, rates_per_hour: Iterable[float]) -> float:
    """The capacity rule: a cache must hold N days of its sequencers running full time."""
    per_day = sum(rates_per_hour) * 24
    return float("inf") if per_day == 0 else cache_bytes / per_day
