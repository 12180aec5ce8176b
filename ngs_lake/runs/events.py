"""The gateway's EventBridge messages: their exact shapes (ARCHITECTURE §3), built by the
software gateway, and their parsing into typed events, everything else rejected with a reason
that names the offending field.

Pure: no AWS calls. Only the source differs by target: the appliance's own `aws.storagegateway`
on the local stand-in, and `ngs-lake.file-gateway` against a real event bus, which refuses
`aws.*` sources from PutEvents. Both are accepted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

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


GATEWAY_SOURCES = (APPLIANCE_SOURCE, SOFTWARE_SOURCE)
MAX_KEY_BYTES = 1024


class EventRejected(ValueError):
    """A message the lake will not process; `reason` is what the DLQ and the ledger record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Detail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")


class ObjectUploadDetail(_Detail):
    object_size: int = Field(alias="object-size", ge=0, strict=True)
    modification_time: AwareDatetime = Field(alias="modification-time")
    object_key: str = Field(alias="object-key", min_length=1)
    event_type: Literal["object-upload-complete"] = Field(alias="event-type")
    prefix: str = ""
    bucket_name: str = Field(alias="bucket-name", min_length=3)


class UploadNotificationDetail(_Detail):
    event_type: Literal["upload-complete"] = Field(alias="event-type")
    notification_id: str = Field(alias="notification-id", min_length=1)
    request_received: AwareDatetime = Field(alias="request-received")
    completed: AwareDatetime


class RefreshCacheDetail(_Detail):
    event_type: Literal["refresh-complete"] = Field(alias="event-type")
    notification_id: str = Field(alias="notification-id", min_length=1)


class Envelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    version: str
    id: str = Field(min_length=1)
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str | None = None
    # EventBridge accepts any `time` (and the gateway any modification time); a time without
    # an offset cannot be ordered against the lake's UTC times, so it is refused with its field.
    time: AwareDatetime
    region: str | None = None
    resources: list[str]
    detail: dict


class ObjectUpload(BaseModel):
    """One object the gateway put into a lake bucket."""

    event_id: str
    time: datetime
    share_arn: str
    gateway_arn: str
    bucket: str
    key: str
    size: int
    modified_at: datetime

    @property
    def is_directory(self) -> bool:
        return self.key.endswith("/")


class UploadNotification(BaseModel):
    """NotifyWhenUploaded's answer: every file on the share before `request_received` is in S3."""

    event_id: str
    time: datetime
    share_arn: str
    notification_id: str
    request_received: datetime
    completed: datetime


class RefreshComplete(BaseModel):
    event_id: str
    time: datetime
    share_arn: str
    notification_id: str


GatewayEvent = ObjectUpload | UploadNotification | RefreshComplete


def parse_gateway_message(body: str) -> GatewayEvent:
    """An SQS message body as delivered by the lake's EventBridge rule, or EventRejected."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, TypeError) as exc:
        raise EventRejected(f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise EventRejected("malformed event: the body is not a JSON object")
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        raise EventRejected(f"malformed event: {_first_error(exc)}") from None
    if envelope.source not in GATEWAY_SOURCES:
        raise EventRejected(
            f"wrong source {envelope.source!r}; expected one of: {', '.join(GATEWAY_SOURCES)}"
        )
    share_arn = next((r for r in envelope.resources if ":share/" in r), None)
    if share_arn is None:
        raise EventRejected("malformed event: resources name no file share ARN")
    try:
        if envelope.detail_type == OBJECT_UPLOAD:
            detail = ObjectUploadDetail.model_validate(envelope.detail)
            key = validate_key(detail.object_key)
            gateway_arn = next((r for r in envelope.resources if ":gateway/" in r), "")
            return ObjectUpload(
                event_id=envelope.id,
                time=envelope.time,
                share_arn=share_arn,
                gateway_arn=gateway_arn,
                bucket=detail.bucket_name,
                key=key,
                size=detail.object_size,
                modified_at=detail.modification_time,
            )
        if envelope.detail_type == FILE_UPLOAD:
            notification = UploadNotificationDetail.model_validate(envelope.detail)
            return UploadNotification(
                event_id=envelope.id,
                time=envelope.time,
                share_arn=share_arn,
                notification_id=notification.notification_id,
                request_received=notification.request_received,
                completed=notification.completed,
            )
        if envelope.detail_type == REFRESH_CACHE:
            refresh = RefreshCacheDetail.model_validate(envelope.detail)
            return RefreshComplete(
                event_id=envelope.id,
                time=envelope.time,
                share_arn=share_arn,
                notification_id=refresh.notification_id,
            )
    except ValidationError as exc:
        raise EventRejected(f"malformed {envelope.detail_type}: {_first_error(exc)}") from None
    raise EventRejected(f"unknown detail-type {envelope.detail_type!r}")


def validate_key(key: str) -> str:
    """An object key the lake accepts: relative, no `..`, no control characters, <= 1,024 bytes."""
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise EventRejected(f"unsafe key {key!r}: not valid UTF-8") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise EventRejected(f"unsafe key: {len(encoded)} bytes, more than {MAX_KEY_BYTES}")
    if key.startswith("/"):
        raise EventRejected(f"unsafe key {key!r}: leading '/'")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise EventRejected(f"unsafe key {key!r}: control characters")
    if ".." in key.split("/"):
        raise EventRejected(f"unsafe key {key!r}: '..' segment")
    return key


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "body"
    return f"{field}: {error['msg']}"
