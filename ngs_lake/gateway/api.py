"""The Storage Gateway JSON API subset that ngs_lake uses, answered from the share registry.

Requests arrive as boto3 sends them to AWS (`X-Amz-Target: StorageGateway_20130630.<Action>`, JSON
1.1 bodies) and errors leave in AWS's shape (`InvalidGatewayRequestException` with an `errorCode`),
so boto3 raises the same typed exceptions here as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ngs_lake.gateway.arns import bucket_of_location, new_share_arn, share_id
from ngs_lake.gateway.registry import GatewayRecord, ShareRecord, ShareRegistry

TARGET_PREFIX = "StorageGateway_20130630."


class GatewayApiError(Exception):
    """An error in AWS's JSON shape; `code` becomes `__type`, `error_code` the `errorCode`."""

    def __init__(
        self,
        message: str,
        error_code: str = "InvalidParameters",
        code: str = "InvalidGatewayRequestException",
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.code = code
        self.status = status

    def body(self) -> dict[str, Any]:
        return {
            "__type": self.code,
            "message": self.message,
            "error": {"errorCode": self.error_code, "errorDetails": {}},
        }


class Tag(BaseModel):
    Key: str = Field(min_length=1, max_length=128)
    Value: str = Field(max_length=256)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSMBFileShareRequest(_Request):
    ClientToken: str = Field(min_length=5, max_length=100)
    GatewayARN: str
    Role: str
    LocationARN: str = Field(
        pattern=r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
    )
    EncryptionType: Literal["SseS3", "SseKms", "DsseKms"] | None = None
    KMSEncrypted: bool | None = None
    KMSKey: str | None = None
    DefaultStorageClass: str = "S3_STANDARD"
    ObjectACL: str = "private"
    ReadOnly: bool = False
    GuessMIMETypeEnabled: bool = True
    RequesterPays: bool = False
    SMBACLEnabled: bool = False
    AccessBasedEnumeration: bool = False
    AdminUserList: list[str] = []
    ValidUserList: list[str] = []
    InvalidUserList: list[str] = []
    AuditDestinationARN: str | None = None
    Authentication: Literal["ActiveDirectory", "GuestAccess"] = "ActiveDirectory"
    CaseSensitivity: Literal["ClientSpecified", "CaseSensitive"] = "ClientSpecified"
    Tags: list[Tag] = []
    FileShareName: str | None = None
    CacheAttributes: dict[str, Any] | None = None
    NotificationPolicy: str = "{}"
    VPCEndpointDNSName: str | None = None
    BucketRegion: str | None = None
    OplocksEnabled: bool = True


class UpdateSMBFileShareRequest(_Request):
    FileShareARN: str
    EncryptionType: Literal["SseS3", "SseKms", "DsseKms"] | None = None
    KMSEncrypted: bool | None = None
    KMSKey: str | None = None
    DefaultStorageClass: str | None = None
    ObjectACL: str | None = None
    ReadOnly: bool | None = None
    GuessMIMETypeEnabled: bool | None = None
    RequesterPays: bool | None = None
    SMBACLEnabled: bool | None = None
    AccessBasedEnumeration: bool | None = None
    AdminUserList: list[str] | None = None
    ValidUserList: list[str] | None = None
    InvalidUserList: list[str] | None = None
    AuditDestinationARN: str | None = None
    CaseSensitivity: Literal["ClientSpecified", "CaseSensitive"] | None = None
    FileShareName: str | None = None
    CacheAttributes: dict[str, Any] | None = None
    NotificationPolicy: str | None = None
    OplocksEnabled: bool | None = None


class UploadService(Protocol):
    """What the API needs from the uploading side of the gateway (GatewayService)."""

    def notify_when_uploaded(self, share_arn: str) -> str: ...

    def refresh_cache(self, share_arn: str) -> str: ...

    def cache_figures(self) -> dict[str, Any]: ...


class StorageGatewayApi:
    """Action handlers over the registry; each takes the request body and returns the response."""

    def __init__(
        self,
        registry: ShareRegistry,
        region: str,
        account: str,
        share_root: Path,
        uploads: UploadService | None = None,
    ) -> None:
        self.registry = registry
        self.region = region
        self.account = account
        self.share_root = share_root
        self.uploads = uploads
        self._actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "ListGateways": self.list_gateways,
            "DescribeCache": self.describe_cache,
            "CreateSMBFileShare": self.create_smb_file_share,
            "UpdateSMBFileShare": self.update_smb_file_share,
            "DescribeSMBFileShares": self.describe_smb_file_shares,
            "ListFileShares": self.list_file_shares,
            "DeleteFileShare": self.delete_file_share,
            "ListTagsForResource": self.list_tags_for_resource,
            "AddTagsToResource": self.add_tags_to_resource,
            "RemoveTagsFromResource": self.remove_tags_from_resource,
            "NotifyWhenUploaded": self.notify_when_uploaded,
            "RefreshCache": self.refresh_cache,
        }

    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        action = target.removeprefix(TARGET_PREFIX)
        handler = self._actions.get(action) if target.startswith(TARGET_PREFIX) else None
        if handler is None:
            raise GatewayApiError(
                f"{target!r} is not an action this gateway serves; it serves: "
                f"{', '.join(sorted(self._actions))}",
                code="UnknownOperationException",
            )
        try:
            return handler(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise GatewayApiError(f"{action}: {field}: {first['msg']}") from None

    def share_folder(self, gateway_name: str, share_name: str) -> Path:
        return self.share_root / gateway_name / share_name

    # Gateways

    def list_gateways(self, body: dict[str, Any]) -> dict[str, Any]:
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
                for g in self.registry.gateways()
            ]
        }

    def describe_cache(self, body: dict[str, Any]) -> dict[str, Any]:
        """AWS reports the cache as percentages of its allocation; so does this gateway."""
        gateway = self._gateway(body.get("GatewayARN", ""))
        used = dirty = 0
        if self.uploads is not None:
            figures = self.uploads.cache_figures()["gateways"]
            mine = next((g for g in figures if g["gateway_arn"] == gateway.arn), None)
            if mine is not None:
                used, dirty = mine["used_bytes"], mine["dirty_bytes"]
        allocated = max(gateway.cache_bytes, 1)
        return {
            "GatewayARN": gateway.arn,
            "DiskIds": [],
            "CacheAllocatedInBytes": gateway.cache_bytes,
            "CacheUsedPercentage": 100.0 * used / allocated,
            "CacheDirtyPercentage": 100.0 * dirty / allocated,
            "CacheHitPercentage": 100.0,
            "CacheMissPercentage": 0.0,
        }

    # Uploads

    def notify_when_uploaded(self, body: dict[str, Any]) -> dict[str, Any]:
        share = self._share(body.get("FileShareARN", ""))
        return {
            "FileShareARN": share.arn,
            "NotificationId": self._uploads().notify_when_uploaded(share.arn),
        }

    def refresh_cache(self, body: dict[str, Any]) -> dict[str, Any]:
        share = self._share(body.get("FileShareARN", ""))
        return {
            "FileShareARN": share.arn,
            "NotificationId": self._uploads().refresh_cache(share.arn),
        }

    def _uploads(self) -> UploadService:
        if self.uploads is None:
            raise GatewayApiError(
                "This gateway serves the share registry only; start it with uploading enabled",
                error_code="NotSupported",
            )
        return self.uploads

    # File shares

    def create_smb_file_share(self, body: dict[str, Any]) -> dict[str, Any]:
        request = CreateSMBFileShareRequest.model_validate(body)
        gateway = self._gateway(request.GatewayARN)
        existing = self.registry.share_by_token(gateway.arn, request.ClientToken)
        if existing is not None:  # AWS answers a repeated ClientToken with the same share.
            return {"FileShareARN": existing.arn}
        name = request.FileShareName or bucket_of_location(request.LocationARN)
        if any(s.name == name for s in self.registry.shares(gateway.arn)):
            raise GatewayApiError(
                f"A file share named {name!r} already exists on gateway {gateway.arn}",
                error_code="FileShareAlreadyExists",
            )
        _check_notification_policy(request.NotificationPolicy)
        arn = new_share_arn(self.region, self.account)
        fields = request.model_dump(exclude={"ClientToken", "Tags", "FileShareName"})
        info = {
            "FileShareARN": arn,
            "FileShareId": share_id(arn),
            "FileShareStatus": "AVAILABLE",
            "Path": f"/{name}",
            "FileShareName": name,
            **{k: v for k, v in fields.items() if v is not None},
        }
        tags = {t.Key: t.Value for t in request.Tags}
        self.share_folder(gateway.name, name).mkdir(parents=True, exist_ok=True)
        self.registry.add_share(
            ShareRecord(arn, gateway.arn, name, request.ClientToken, info, tags)
        )
        return {"FileShareARN": arn}

    def update_smb_file_share(self, body: dict[str, Any]) -> dict[str, Any]:
        request = UpdateSMBFileShareRequest.model_validate(body)
        share = self._share(request.FileShareARN)
        changes = request.model_dump(exclude={"FileShareARN"}, exclude_none=True)
        if "NotificationPolicy" in changes:
            _check_notification_policy(changes["NotificationPolicy"])
        if "FileShareName" in changes and changes["FileShareName"] != share.name:
            raise GatewayApiError(
                "This gateway cannot rename a share; create a new share instead",
                error_code="NotSupported",
            )
        self.registry.update_share(share.arn, {**share.info, **changes}, share.tags)
        return {"FileShareARN": share.arn}

    def describe_smb_file_shares(self, body: dict[str, Any]) -> dict[str, Any]:
        arns = body.get("FileShareARNList") or []
        if not 1 <= len(arns) <= 10:
            raise GatewayApiError("FileShareARNList must hold 1 to 10 ARNs")
        shares = [self._share(arn) for arn in arns]
        return {
            "SMBFileShareInfoList": [
                {**s.info, "GatewayARN": s.gateway_arn, "Tags": _tag_list(s.tags)} for s in shares
            ]
        }

    def list_file_shares(self, body: dict[str, Any]) -> dict[str, Any]:
        gateway_arn = body.get("GatewayARN")
        if gateway_arn is not None:
            self._gateway(gateway_arn)
        return {
            "FileShareInfoList": [
                {
                    "FileShareType": "SMB",
                    "FileShareARN": s.arn,
                    "FileShareId": share_id(s.arn),
                    "FileShareStatus": "AVAILABLE",
                    "GatewayARN": s.gateway_arn,
                }
                for s in self.registry.shares(gateway_arn)
            ]
        }

    def delete_file_share(self, body: dict[str, Any]) -> dict[str, Any]:
        share = self._share(body.get("FileShareARN", ""))
        # The folder stays: like an appliance's cache disk, it is not the share's to delete.
        self.registry.delete_share(share.arn)
        return {"FileShareARN": share.arn}

    # Tags

    def list_tags_for_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = body.get("ResourceARN", "")
        return {"ResourceARN": arn, "Tags": _tag_list(self._tags_of(arn))}

    def add_tags_to_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = body.get("ResourceARN", "")
        share = self._share(arn)
        new = {t.Key: t.Value for t in (Tag.model_validate(t) for t in body.get("Tags", []))}
        self.registry.update_share(arn, share.info, {**share.tags, **new})
        return {"ResourceARN": arn}

    def remove_tags_from_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = body.get("ResourceARN", "")
        share = self._share(arn)
        drop = set(body.get("TagKeys", []))
        self.registry.update_share(
            arn, share.info, {k: v for k, v in share.tags.items() if k not in drop}
        )
        return {"ResourceARN": arn}

    # Lookups

    def _gateway(self, arn: str) -> GatewayRecord:
        gateway = self.registry.gateway(arn)
        if gateway is None:
            raise GatewayApiError(
                f"The specified gateway was not found: {arn!r}", error_code="GatewayNotFound"
            )
        return gateway

    def _share(self, arn: str) -> ShareRecord:
        share = self.registry.share(arn)
        if share is None:
            raise GatewayApiError(
                f"The specified file share was not found: {arn!r}",
                error_code="FileShareNotFound",
            )
        return share

    def _tags_of(self, arn: str) -> dict[str, str]:
        if ":share/" in arn:
            return self._share(arn).tags
        self._gateway(arn)
        return {}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _check_notification_policy(policy: str) -> None:
    """AWS accepts `{}` (off) or `{"Upload": {"SettlingTimeInSeconds": N}}`."""
    try:
        document = json.loads(policy)
    except json.JSONDecodeError:
        raise GatewayApiError(f"NotificationPolicy is not JSON: {policy!r}") from None
    if document == {}:
        return
    settling = document.get("Upload", {}).get("SettlingTimeInSeconds") if document else None
    if set(document) != {"Upload"} or not isinstance(settling, int) or not 1 <= settling <= 3600:
        raise GatewayApiError(
            'NotificationPolicy must be {} or {"Upload": {"SettlingTimeInSeconds": 1..3600}}, '
            f"not {policy}"
        )
