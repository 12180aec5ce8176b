"""The Storage Gateway JSON API subset that ngs_lake uses, answered from the share registry.

Requests arrive as boto3 sends them to AWS (`X-Amz-Target: StorageGateway_20130630.<Action>`, JSON
1.1 bodies) and errors leave in AWS's shape (`InvalidGatewayRequestException` with an `errorCode`),
so boto3 raises the same typed exceptions here as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from ngs_lake.gateway.api_requests import (
    AddTagsToResourceRequest,
    CreateSMBFileShareRequest,
    DeleteFileShareRequest,
    DescribeSMBFileSharesRequest,
    GatewayRequest,
    ListFileSharesRequest,
    ListGatewaysRequest,
    ListTagsForResourceRequest,
    NotifyWhenUploadedRequest,
    RefreshCacheRequest,
    RemoveTagsFromResourceRequest,
    UpdateSMBFileShareRequest,
    settling_seconds,
)
from ngs_lake.gateway.arns import bucket_of_location, new_share_arn, share_id
from ngs_lake.gateway.registry import GatewayRecord, ShareRecord, ShareRegistry
from ngs_lake.gateway.share_folders import share_folder

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


class UploadService(Protocol):
    """What the API needs from the uploading side of the gateway (GatewayService)."""

    def notify_when_uploaded(self, share_arn: str) -> str: ...

    def refresh_cache(self, share_arn: str) -> str: ...

    def cache_figures(self) -> dict[str, Any]: ...

    def retire_share(self, share_arn: str, force: bool) -> bool: ...


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
        except LookupError as exc:  # a share the uploading side does not serve (share_folders)
            raise GatewayApiError(
                f"The specified file share is not served by this gateway: {exc}",
                error_code="FileShareNotFound",
            ) from None

    # Gateways

    def list_gateways(self, body: dict[str, Any]) -> dict[str, Any]:
        ListGatewaysRequest.model_validate(body)
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
        gateway = self._gateway(GatewayRequest.model_validate(body).GatewayARN)
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
        share = self._share(NotifyWhenUploadedRequest.model_validate(body).FileShareARN)
        return {
            "FileShareARN": share.arn,
            "NotificationId": self._uploads().notify_when_uploaded(share.arn),
        }

    def refresh_cache(self, body: dict[str, Any]) -> dict[str, Any]:
        share = self._share(RefreshCacheRequest.model_validate(body).FileShareARN)
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
        folder = _share_folder(self.share_root, gateway.name, name)
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
        folder.mkdir(parents=True, exist_ok=True)
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
        request = DescribeSMBFileSharesRequest.model_validate(body)
        shares = [self._share(arn) for arn in request.FileShareARNList]
        return {
            "SMBFileShareInfoList": [
                {**s.info, "GatewayARN": s.gateway_arn, "Tags": _tag_list(s.tags)} for s in shares
            ]
        }

    def list_file_shares(self, body: dict[str, Any]) -> dict[str, Any]:
        gateway_arn = ListFileSharesRequest.model_validate(body).GatewayARN
        if gateway_arn is not None:
            self._gateway(gateway_arn)
        return {
            "FileShareInfoList": [
                {
                    "FileShareType": "SMB",
                    "FileShareARN": s.arn,
                    "FileShareId": share_id(s.arn),
                    "FileShareStatus": s.info.get("FileShareStatus", "AVAILABLE"),
                    "GatewayARN": s.gateway_arn,
                }
                for s in self.registry.shares(gateway_arn)
            ]
        }

    def delete_file_share(self, body: dict[str, Any]) -> dict[str, Any]:
        """As on AWS, a share with data not yet in S3 is DELETING until it is all uploaded (here:
        and announced), unless ForceDelete drops it at once. The folder stays: like an appliance's
        cache disk, it is not the share's to delete."""
        request = DeleteFileShareRequest.model_validate(body)
        share = self._share(request.FileShareARN)
        if self.uploads is None:
            self.registry.delete_share(share.arn)
        else:
            self.uploads.retire_share(share.arn, request.ForceDelete)
        return {"FileShareARN": share.arn}

    # Tags

    def list_tags_for_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = ListTagsForResourceRequest.model_validate(body).ResourceARN
        return {"ResourceARN": arn, "Tags": _tag_list(self._tags_of(arn))}

    def add_tags_to_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        request = AddTagsToResourceRequest.model_validate(body)
        arn = request.ResourceARN
        share = self._share(arn)
        new = {t.Key: t.Value for t in request.Tags}
        self.registry.update_share(arn, share.info, {**share.tags, **new})
        return {"ResourceARN": arn}

    def remove_tags_from_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        request = RemoveTagsFromResourceRequest.model_validate(body)
        arn = request.ResourceARN
        share = self._share(arn)
        drop = set(request.TagKeys)
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
    try:
        settling_seconds(policy)
    except ValueError as exc:
        raise GatewayApiError(str(exc)) from None


def _share_folder(root: Path, gateway_name: str, share_name: str) -> Path:
    try:
        return share_folder(root, gateway_name, share_name)
    except ValueError as exc:
        raise GatewayApiError(str(exc)) from None
