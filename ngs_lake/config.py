"""The lake config document (`config/lake.yaml`): one place that says which sequencers exist.

Each list entry is validated on its own, so one broken entry never hides the problems of another,
and cross-references and capacity rules run over every entry that parsed. Every problem names its
entry by id and its field, so a lab admin can fix the whole document in one pass.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ngs_lake.lifecycle import EVENT_TYPES
from ngs_lake.platforms import PLATFORM_IDS, family_of
from ngs_lake.units import format_size, parse_duration, parse_rate, parse_size

SUPPORTED_VERSION = 1
MAX_RULE_NAME = 64  # EventBridge's limit
SECTIONS = ("version", "lake", "sites", "gateways", "sequencers", "consumers")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$")


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
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}, such as 'Europe/Berlin'") from None
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
ByteSize = Annotated[int, BeforeValidator(parse_size)]
BytesPerHour = Annotated[float, BeforeValidator(parse_rate)]
Seconds = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectLockPolicy(_Strict):
    mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    retention_days: int = Field(gt=0)


class LifecycleTransition(_Strict):
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


class InventorySettings(_Strict):
    bucket: BucketName
    prefix: str = "inventory"
    frequency: Literal["Daily", "Weekly"] = "Daily"
    format: Literal["CSV", "ORC", "Parquet"] = "CSV"
    fields: tuple[InventoryField, ...] = DEFAULT_INVENTORY_FIELDS


class ReplicationSettings(_Strict):
    destination_bucket: BucketName
    region: str
    role_arn: Arn
    replica_kms_key_arn: Arn


class LakeSettings(_Strict):
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
    # backlog or poison message at one site never delays another (README, scaling out).
    event_queues: Literal["one", "per-site"] = "one"
    abort_after_stall_windows: int = Field(default=4, gt=0)


class Site(_Strict):
    id: Id
    name: str
    timezone: TimeZone


class SmbAuthentication(_Strict):
    authentication: Literal["ActiveDirectory", "GuestAccess"]
    domain: str | None = None


class Gateway(_Strict):
    id: Id
    site: str
    ip: Annotated[str, AfterValidator(_valid_ipv4)]
    cache: ByteSize
    smb: SmbAuthentication
    arn: Arn | None = None


class Sequencer(_Strict):
    id: Id
    gateway: str
    platform: PlatformId
    data_rate: BytesPerHour
    stall_window: Seconds | None = None  # default: the platform family's


class Consumer(_Strict):
    name: Id
    principal: Arn
    event_types: tuple[EventType, ...] = Field(min_length=1)
    platforms: tuple[PlatformId, ...] = ()
    sites: tuple[str, ...] = ()
    read_prefixes: tuple[str, ...] = Field(min_length=1)


class LakeConfig(_Strict):
    """A validated document. Build it with `load_lake_config` or `parse_lake_document`."""

    version: Literal[1]
    lake: LakeSettings
    sites: tuple[Site, ...]
    gateways: tuple[Gateway, ...]
    sequencers: tuple[Sequencer, ...]
    consumers: tuple[Consumer, ...] = ()

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


def load_lake_config(path: str | Path) -> LakeConfig:
    """Read and validate a config document, raising `LakeConfigError` with every problem."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LakeConfigError([f"cannot read {path}: {exc.strerror}"], str(path)) from None
    except yaml.YAMLError as exc:
        raise LakeConfigError([f"{path} is not valid YAML: {exc}"], str(path)) from None
    return parse_lake_document(document, source=str(path))


def parse_lake_document(document: object, source: str = "the lake config") -> LakeConfig:
    """Validate a parsed document; see the module docstring for how problems are gathered."""
    if not isinstance(document, Mapping):
        raise LakeConfigError(
            [f"the document must be a mapping with the keys {', '.join(SECTIONS)}"], source
        )
    problems: list[str] = []
    for key in document:
        if key not in SECTIONS:
            problems.append(f"{key}: unknown field; expected one of: {', '.join(SECTIONS)}")
    for key in ("version", "lake", "sites", "gateways", "sequencers"):
        if key not in document:
            problems.append(f"{key}: required field is missing")
    if "version" in document and document["version"] != SUPPORTED_VERSION:
        problems.append(
            f"version: unsupported version {document['version']!r}; "
            f"this ngs_lake reads version {SUPPORTED_VERSION}"
        )

    lake = _parse_entry(LakeSettings, document.get("lake"), "lake", problems)
    sections = {
        name: _parse_section(model, document.get(name), name, problems)
        for name, model in (
            ("sites", Site),
            ("gateways", Gateway),
            ("sequencers", Sequencer),
            ("consumers", Consumer),
        )
    }
    problems.extend(_cross_reference_problems(lake, **sections))
    if problems:
        raise LakeConfigError(problems, source)
    return LakeConfig(
        version=SUPPORTED_VERSION,
        lake=lake,
        sites=sections["sites"].parsed,
        gateways=sections["gateways"].parsed,
        sequencers=sections["sequencers"].parsed,
        consumers=sections["consumers"].parsed,
    )


@dataclass
class _Section:
    """One list of the document: the ids every entry declares, and the entries that parsed.

    Duplicate and reference checks use the declared ids, so an entry with a bad field still counts
    as existing; capacity checks use only entries that parsed.
    """

    declared: list[str]
    parsed: tuple[Any, ...]


def _parse_section(
    model: type[_Strict], raw: object, section: str, problems: list[str]
) -> _Section:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append(f"{section}: must be a list of entries")
        return _Section([], ())
    key = "name" if section == "consumers" else "id"
    declared, parsed = [], []
    for index, item in enumerate(raw):
        item_id = item.get(key) if isinstance(item, Mapping) else None
        label = f"{section}[{item_id}]" if isinstance(item_id, str) and item_id else None
        if label:
            declared.append(item_id)
        entry = _parse_entry(model, item, label or f"{section}[{index}]", problems)
        if entry is not None:
            parsed.append(entry)
    return _Section(declared, tuple(parsed))


def _parse_entry(model: type[_Strict], item: object, label: str, problems: list[str]) -> Any:
    if not isinstance(item, Mapping):
        problems.append(f"{label}: must be a mapping of fields")
        return None
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        problems.extend(_describe(error, label, model) for error in exc.errors())
        return None


def _describe(error: Any, label: str, model: type[_Strict]) -> str:
    """One pydantic error as `<entry>.<field>: <what is wrong>`, in words a config author reads."""
    loc = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    where = f"{label}{loc}"
    kind = error["type"]
    if kind == "extra_forbidden":
        parent: Any = model
        for part in error["loc"][:-1]:
            if isinstance(part, str):
                parent = parent.model_fields[part].annotation
        allowed = ", ".join(getattr(parent, "model_fields", {}))
        return f"{where}: unknown field; expected one of: {allowed}"
    if kind == "missing":
        return f"{where}: required field is missing"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"


def _cross_reference_problems(
    lake: LakeSettings | None,
    sites: _Section,
    gateways: _Section,
    sequencers: _Section,
    consumers: _Section,
) -> list[str]:
    problems: list[str] = []
    for section, entries, key in (
        ("sites", sites, "id"),
        ("gateways", gateways, "id"),
        ("sequencers", sequencers, "id"),
        ("consumers", consumers, "name"),
    ):
        counts = Counter(entries.declared)
        problems.extend(
            f"{section}[{value}].{key}: duplicate {key}; {n} entries use {value!r}"
            for value, n in counts.items()
            if n > 1
        )
    # Sequencer ids become bucket names, which are lower-case, so case-only twins would collide.
    by_lower: dict[str, list[str]] = {}
    for sequencer_id in dict.fromkeys(sequencers.declared):
        by_lower.setdefault(sequencer_id.lower(), []).append(sequencer_id)
    problems.extend(
        f"sequencers[{', '.join(twins)}].id: ids differ only in case; bucket names are "
        "lower-case, so they would share a bucket"
        for twins in by_lower.values()
        if len(twins) > 1
    )
    site_ids, gateway_ids = set(sites.declared), set(gateways.declared)
    for g in gateways.parsed:
        if g.site not in site_ids:
            problems.append(
                f"gateways[{g.id}].site: unknown site {g.site!r}; known sites: "
                f"{', '.join(sorted(site_ids))}"
            )
    for s in sequencers.parsed:
        if s.gateway not in gateway_ids:
            problems.append(
                f"sequencers[{s.id}].gateway: unknown gateway {s.gateway!r}; known gateways: "
                f"{', '.join(sorted(gateway_ids))}"
            )
    for c in consumers.parsed:
        problems.extend(
            f"consumers[{c.name}].sites: unknown site {site!r}; known sites: "
            f"{', '.join(sorted(site_ids))}"
            for site in c.sites
            if site not in site_ids
        )
    if lake is None:
        return problems
    for s in sequencers.parsed:
        bucket = f"{lake.prefix}-{s.id.lower()}"
        if len(bucket) > 63:
            problems.append(
                f"sequencers[{s.id}].id: bucket name {bucket!r} would exceed 63 characters"
            )
    if lake.event_queues == "per-site":
        from ngs_lake.naming import LakeNames  # naming imports this module

        for site_id in dict.fromkeys(sites.declared):
            rule = LakeNames(lake.prefix).site_events(site_id).rule
            if len(rule) > MAX_RULE_NAME:  # its queues' names, at most 68, fit SQS's 80
                problems.append(
                    f"sites[{site_id}].id: with lake.event_queues per-site, its rule name "
                    f"{rule!r} would exceed EventBridge's {MAX_RULE_NAME} characters; "
                    "use a shorter site id or lake prefix"
                )
    for g in gateways.parsed:
        attached = [s for s in sequencers.parsed if s.gateway == g.id]
        if len(attached) > lake.max_sequencers_per_gateway:
            problems.append(
                f"gateways[{g.id}]: {len(attached)} sequencers attached, more than the maximum of "
                f"{lake.max_sequencers_per_gateway} (lake.max_sequencers_per_gateway)"
            )
        days = buffer_days(g.cache, (s.data_rate for s in attached))
        if days < lake.cache_buffer_days:
            per_day = sum(s.data_rate for s in attached) * 24
            problems.append(
                f"gateways[{g.id}].cache: {format_size(g.cache, iec=True)} holds {days:.1f} days "
                f"of its sequencers' full-time output ({format_size(per_day)}/day), below the "
                f"{lake.cache_buffer_days:g}-day target (lake.cache_buffer_days); enlarge the "
                "cache or move a sequencer to another gateway"
            )
    return problems
