"""The lake config document's model: one pydantic model per entry, with the field rules each
entry must meet on its own. Cross-entry rules and loading live in `document`.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ngs_lake.config.units import parse_duration, parse_rate, parse_size
from ngs_lake.platforms import PLATFORM_IDS, family_of

SUPPORTED_VERSION = 1
MAX_RULE_NAME = 64  # EventBridge's limit
SECTIONS = ("version", "lake", "sites", "gateways", "sequencers", "consumers", "alerts")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$")


# Consumers filter on the event types the published message schema names: the schema is the
# contract with them, so the document reads it rather than the run core's enum (a test keeps the
# two equal).
_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "run-event-v1.json"
EVENT_TYPES: tuple[str, ...] = tuple(
    json.loads(_SCHEMA.read_text())["properties"]["event_type"]["enum"]
)


class LakeConfigError(ValueError):
    """The document is invalid; ``problems`` lists every problem, each naming entry and field."""

    def __init__(self, problems: list[str], source: str = "the lake config") -> None:
        self.problems = problems
        super().__init__(f"{source} has {len(problems)} problem(s):\n" + "\n".join(problems))


def _valid_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"{value!r} is not a valid id; use letters, digits and hyphens, at most 40 characters"
        )
    return value


def _valid_prefix(value: str) -> str:
    if not _PREFIX.match(value):
        raise ValueError(
            f"{value!r} must be lower-case letters, digits and hyphens, at most 24 characters "
            "(it starts every bucket, table and queue name)"
        )
    return value


def _valid_platform(value: str) -> str:
    if value not in PLATFORM_IDS:
        raise ValueError(f"unknown platform {value!r}; expected one of: {', '.join(PLATFORM_IDS)}")
    return value


def _valid_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"unknown event type {value!r}; expected one of: {', '.join(EVENT_TYPES)}")
    return value


def _valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a key naming a folder of the tz database, e.g. 'America'
        near = near_time_zones(value)
        if near:
            raise ValueError(
                f"unknown IANA time zone {value!r}; near names: {', '.join(near)}"
            ) from None
        raise ValueError(f"unknown IANA time zone {value!r}, such as 'Europe/Berlin'") from None
    return value


@cache
def _zones_by_lower_name() -> dict[str, str]:
    return {zone.lower(): zone for zone in sorted(available_timezones())}


def near_time_zones(value: str) -> list[str]:
    """Up to three zone names close to `value` (case aside), closest first."""
    zones = _zones_by_lower_name()
    if value.lower() in zones:  # names are case-sensitive: the one it differs from in case
        return [zones[value.lower()]]
    near = difflib.get_close_matches(value.lower(), zones, n=3, cutoff=0.6)
    return [zones[name] for name in near]


def _valid_read_prefix(value: str) -> str:
    # IAM reads `*` and `?` in a Resource ARN or a StringLike condition as wildcards, and `${`
    # starts a policy variable: each would widen the grant beyond the prefix written.
    wildcards = [w for w in ("*", "?", "${") if w in value]
    if wildcards:
        raise ValueError(
            f"{value!r} holds {' and '.join(repr(w) for w in wildcards)}, which IAM reads as a "
            "wildcard or variable and which would widen the consumer's grant; write a literal key "
            "prefix such as 'reports/' ('' for the whole bucket)"
        )
    return value


def _compliance_only(value: str) -> str:
    if value != "COMPLIANCE":
        raise ValueError(
            f"{value} is refused: the lake's audit expects every object under COMPLIANCE, and "
            f"{value} lets a privileged user shorten or lift a lock; use COMPLIANCE"
        )
    return value


def _readable_inventory_format(value: str) -> str:
    if value not in ("CSV", "Parquet"):
        raise ValueError(
            f"{value} is refused: the inventory catalogue reads CSV and Parquet reports only; "
            "use CSV or Parquet"
        )
    return value


def _valid_arn(value: str) -> str:
    if not _ARN.match(value):
        raise ValueError(f"{value!r} is not an ARN such as 'arn:aws:iam::123456789012:role/name'")
    return value


def _valid_bucket(value: str) -> str:
    if not _BUCKET.match(value) or ".." in value:
        raise ValueError(f"{value!r} is not a valid S3 bucket name")
    return value


def _valid_ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None
    return value


Id = Annotated[str, AfterValidator(_valid_id)]
PlatformId = Annotated[str, AfterValidator(_valid_platform)]
EventType = Annotated[str, AfterValidator(_valid_event_type)]
TimeZone = Annotated[str, AfterValidator(_valid_timezone)]
Arn = Annotated[str, AfterValidator(_valid_arn)]
BucketName = Annotated[str, AfterValidator(_valid_bucket)]
ReadPrefix = Annotated[str, AfterValidator(_valid_read_prefix)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]
BytesPerHour = Annotated[float, BeforeValidator(parse_rate)]
Seconds = Annotated[float, BeforeValidator(parse_duration)]


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
    "dlq_message_old",
    "gateway_buffer_low",
    "inventory_audit_failed",
    "upload_backlog_growing",
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
