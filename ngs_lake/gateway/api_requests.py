"""The Storage Gateway API's request bodies, validated strictly, as AWS's JSON protocol does.

Strict: a JSON `true` is not a number of seconds and `"yes"` is not a boolean, so a bad parameter
is refused with InvalidGatewayRequestException naming the field, never answered with a 500.
Each model lists the parameters AWS documents for its action (the ones this gateway ignores too),
and refuses any other.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ngs_lake.gateway.share_folders import share_name_refusal

SseType = Literal["SseS3", "SseKms", "DsseKms"]


def _valid_share_name(name: str) -> str:
    reason = share_name_refusal(name)
    if reason is not None:
        raise ValueError(reason)
    return name


ShareName = Annotated[str, AfterValidator(_valid_share_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Tag(_Strict):
    Key: str = Field(min_length=1, max_length=128)
    Value: str = Field(max_length=256)


class CreateSMBFileShareRequest(_Strict):
    ClientToken: str = Field(min_length=5, max_length=100)
    GatewayARN: str
    Role: str
    LocationARN: str = Field(
        pattern=r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
    )
    EncryptionType: SseType | None = None
    KMSEncrypted: bool | None = None
    KMSKey: str | None = Field(default=None, min_length=7, max_length=2048)
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
    FileShareName: ShareName | None = None
    CacheAttributes: dict[str, Any] | None = None
    NotificationPolicy: str = Field(default="{}", min_length=2, max_length=100)
    VPCEndpointDNSName: str | None = None
    BucketRegion: str | None = None
    OplocksEnabled: bool = True


class UpdateSMBFileShareRequest(_Strict):
    FileShareARN: str
    EncryptionType: SseType | None = None
    KMSEncrypted: bool | None = None
    KMSKey: str | None = Field(default=None, min_length=7, max_length=2048)
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
    FileShareName: ShareName | None = None
    CacheAttributes: dict[str, Any] | None = None
    NotificationPolicy: str | None = Field(default=None, min_length=2, max_length=100)
    OplocksEnabled: bool | None = None


class _Paged(_Strict):
    Limit: int | None = Field(default=None, ge=1)
    Marker: str | None = None


class ListGatewaysRequest(_Paged):
    pass


class GatewayRequest(_Strict):
    GatewayARN: str


class ListFileSharesRequest(_Paged):
    GatewayARN: str | None = None


class DescribeSMBFileSharesRequest(_Strict):
    FileShareARNList: list[str] = Field(min_length=1, max_length=10)


class DeleteFileShareRequest(_Strict):
    FileShareARN: str
    ForceDelete: bool = False


class NotifyWhenUploadedRequest(_Strict):
    FileShareARN: str


class RefreshCacheRequest(_Strict):
    FileShareARN: str
    FolderList: list[str] | None = None
    Recursive: bool | None = None


class ListTagsForResourceRequest(_Paged):
    ResourceARN: str


class AddTagsToResourceRequest(_Strict):
    ResourceARN: str
    Tags: list[Tag]


class RemoveTagsFromResourceRequest(_Strict):
    ResourceARN: str
    TagKeys: list[str]


class _UploadNotification(_Strict):
    SettlingTimeInSeconds: int = Field(ge=1, le=3600)


class _NotificationPolicyDocument(_Strict):
    Upload: _UploadNotification


def settling_seconds(policy: str) -> int | None:
    """AWS accepts `{}` (off, None here) or `{"Upload": {"SettlingTimeInSeconds": 1..3600}}`;
    raises ValueError naming what is wrong otherwise."""
    try:
        document = json.loads(policy)
    except json.JSONDecodeError:
        raise ValueError(f"NotificationPolicy is not JSON: {policy!r}") from None
    if document == {}:
        return None
    try:
        parsed = _NotificationPolicyDocument.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise ValueError(
            'NotificationPolicy must be {} or {"Upload": {"SettlingTimeInSeconds": 1..3600}}; '
            f"{where}: {first['msg']}, in {policy}"
        ) from None
    return parsed.Upload.SettlingTimeInSeconds
