"""One line, then the fix: what `ngs-lake` prints instead of a traceback when an AWS call fails.

botocore's errors surface far from their cause: a missing credential chain, an endpoint that is not
listening, a queue that was never provisioned. The root command group (`LakeGroup`) turns each
into one line that names the resource and what to do, and exits 1; `ngs-lake -v` keeps the
traceback for a developer. The resource is read from the failed call's own parameters, so every
command, including those that never mention it, names the queue, table or bucket it missed.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import click
from boto3.exceptions import Boto3Error
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

AWS_ERRORS = (BotoCoreError, ClientError, Boto3Error)

NO_CREDENTIALS = (
    "no AWS credentials: paste the exports that `ngs-lake local up` printed, or configure AWS "
    "(AWS_PROFILE, `aws configure` or `aws sso login`)"
)
_PROVISION = "run `ngs-lake provision --apply`"

# Error codes per meaning; SQS's JSON protocol answers QueueDoesNotExist, its query protocol
# AWS.SimpleQueueService.NonExistentQueue.
_MISSING = {
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NotFound",
    "NotFoundException",
}
_REJECTED_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "AuthorizationError"}

# The call parameters that name a resource, the word for it, and how to shorten the value.
_RESOURCE_PARAMETERS = (
    ("QueueName", "queue", lambda v: v),
    ("QueueUrl", "queue", lambda v: v.rstrip("/").rsplit("/", 1)[-1]),
    ("TableName", "table", lambda v: v),
    ("Bucket", "bucket", lambda v: v),
    ("TopicArn", "topic", lambda v: v.rsplit(":", 1)[-1]),
    ("FileShareARN", "file share", lambda v: v),
    ("GatewayARN", "gateway", lambda v: v),
    ("ResourceARN", "resource", lambda v: v),
)


class LakeGroup(click.Group):
    """The root group: an AWS error anywhere below becomes one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AWS_ERRORS as exc:
            if ctx.params.get("verbose"):
                raise
            raise click.ClickException(describe_aws_error(exc)) from None


def describe_aws_error(exc: Exception) -> str:
    """One line: what failed, on which resource, and the fix."""
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials ({exc}): set both the key id and the secret key"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        return _unreachable(str(exc.kwargs.get("endpoint_url") or ""))
    if isinstance(exc, ReadTimeoutError):
        endpoint = exc.kwargs.get("endpoint_url")
        return f"{endpoint} did not answer in time: check that it is running and not overloaded"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check AWS_PROFILE against `aws configure list-profiles`"
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_REGION, or lake.region in the config document"
    return f"AWS: {exc}"


def _unreachable(endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or endpoint
    if host.endswith(".amazonaws.com"):
        return f"cannot reach {endpoint}: check the network and the region"
    return (
        f"cannot reach {endpoint}: start the local lake (`make run` or `ngs-lake local up`), "
        "or unset NGS_LAKE_AWS_ENDPOINT_URL to reach AWS"
    )


def _client_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = error.get("QueryErrorCode") or error.get("Code") or "error"
    message = error.get("Message") or error.get("message") or ""
    operation = exc.operation_name
    params = _call_parameters(exc.__traceback__)
    resource = _resource(params)
    if code in _MISSING and resource is not None:
        return f"{resource} does not exist: {_PROVISION}"
    if code == "NoSuchKey" and isinstance(params.get("Key"), str):
        return f"object s3://{params.get('Bucket')}/{params['Key']} does not exist"
    if code in _REJECTED_CREDENTIALS:
        return (
            f"AWS rejected the credentials ({code}): refresh them, or paste the exports that "
            "`ngs-lake local up` printed"
        )
    on = f" on {resource}" if resource else ""
    if code in _DENIED:
        return (
            f"access denied to {operation}{on}: use credentials whose role has the lake's "
            "permissions (`ngs-lake provision --plan --show-policies`)"
        )
    return f"{operation}{on} failed: {code}: {message}"


def _resource(params: dict[str, Any]) -> str | None:
    """The resource a call named, e.g. "queue small-lake-gateway-events"."""
    for parameter, kind, shorten in _RESOURCE_PARAMETERS:
        value = params.get(parameter)
        if isinstance(value, str) and value:
            return f"{kind} {shorten(value)}"
    return None


def _call_parameters(tb: TracebackType | None) -> dict[str, Any]:
    """The failed call's parameters. botocore keeps them out of the exception; they are in the
    frame of `BaseClient._make_api_call` on its traceback, from whichever thread made the call."""
    params: dict[str, Any] = {}
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "_make_api_call" and "api_params" in frame.f_locals:
            found = frame.f_locals["api_params"]
            params = found if isinstance(found, dict) else params
        tb = tb.tb_next
    return params
