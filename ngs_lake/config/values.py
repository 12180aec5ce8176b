"""The config document's value types: ids, prefixes, platforms, event types, IANA zones, ARNs,
bucket names, read prefixes, sizes, rates and durations, each with the one message that names
what is wrong and what to write instead. `model` builds the entries from them.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from functools import cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator

from ngs_lake.config.units import parse_duration, parse_rate, parse_size
from ngs_lake.platforms import PLATFORM_IDS

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
