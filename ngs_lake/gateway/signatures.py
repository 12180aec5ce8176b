"""SigV4 checks of the gateway's API requests, by botocore's own signer over each request as it
arrived.

AWS authenticates every Storage Gateway call with Signature Version 4; so does this gateway, against
one key pair from its environment. The signature is recomputed with `botocore.auth.SigV4Auth` over
the method, path, signed headers and body exactly as they arrived, and compared in constant time.
Refusals carry AWS's error codes, so boto3 raises what it raises on AWS:
https://docs.aws.amazon.com/storagegateway/latest/APIReference/CommonErrors.html
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ngs_lake.gateway.api import GatewayApiError

ACCESS_KEY_ENV = "NGS_LAKE_GATEWAY_ACCESS_KEY_ID"
SECRET_KEY_ENV = "NGS_LAKE_GATEWAY_SECRET_ACCESS_KEY"
# The local stand-in's test credentials (moto accepts any; every local client signs with these).
LOCAL_TEST_CREDENTIALS = ("testing", "testing")
SERVICE = "storagegateway"
# AWS refuses a request whose X-Amz-Date is more than 15 minutes from its own clock (RequestExpired
# in CommonErrors; JSON services answer it as InvalidSignatureException "Signature expired").
MAX_CLOCK_SKEW = timedelta(minutes=15)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class GatewayCredentials:
    """The one key pair the gateway's API accepts; the secret never appears in a repr or log."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], is_local: bool) -> GatewayCredentials:
        """NGS_LAKE_GATEWAY_ACCESS_KEY_ID / _SECRET_ACCESS_KEY; for the local target, unset means
        the stand-in's test credentials. Anywhere else the gateway does not start without them."""
        key, secret = environ.get(ACCESS_KEY_ENV), environ.get(SECRET_KEY_ENV)
        if key and secret:
            return cls(key, secret)
        if is_local and not key and not secret:
            return cls(*LOCAL_TEST_CREDENTIALS)
        raise ValueError(
            f"set both {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}: the gateway's API accepts only "
            "requests signed (SigV4) with that key pair"
        )


@dataclass(frozen=True)
class ReceivedRequest:
    """An HTTP request as it reached the server: nothing normalised, nothing re-encoded."""

    method: str
    path: str
    headers: Mapping[str, list[str]]  # lower-case name -> every value received, in order
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


def check_signature(
    request: ReceivedRequest,
    credentials: GatewayCredentials,
    region: str,
    now: datetime | None = None,
) -> None:
    """Raise GatewayApiError in AWS's shape unless `request` is signed with `credentials`."""
    authorization = request.header("authorization")
    if not authorization:
        raise _refusal(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
            403,
        )
    parsed = _AUTHORIZATION.match(authorization.strip())
    if parsed is None:
        raise _incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature', "
            "in AWS4-HMAC-SHA256 form"
        )
    scope = parsed["credential"].split("/")
    signed = parsed["signed"].split(";")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete(
            "Credential must have the form <key>/<date>/<region>/<service>/aws4_request"
        )
    _check_signed_headers(request, signed)
    key_id, scope_date, scope_region, scope_service, _ = scope
    if not hmac.compare_digest(key_id, credentials.access_key_id):
        raise _refusal(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if scope_service != SERVICE:
        raise _invalid(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if scope_region != region:
        raise _invalid(f"Credential should be scoped to a valid region, not '{scope_region}'.")
    amz_date = _signing_time(request, scope_date, now or datetime.now(UTC))
    _check_payload_hash(request)
    expected = _signature(request, signed, credentials, region, amz_date)
    if not hmac.compare_digest(expected, parsed["signature"]):
        raise _invalid(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )


def _check_signed_headers(request: ReceivedRequest, signed: list[str]) -> None:
    """SigV4 requires host and the date to be signed, and every x-amz-* header sent; this also
    keeps a captured signature from being replayed with another X-Amz-Target."""
    if signed != sorted(set(signed)) or any(name != name.lower() for name in signed):
        raise _incomplete("SignedHeaders must be lower-case, sorted and without repeats")
    missing = [name for name in signed if name not in request.headers]
    if missing:
        raise _incomplete(f"Signed headers not in the request: {', '.join(missing)}")
    unsigned = sorted(
        name
        for name in request.headers
        if (name in ("host", "x-amz-date") or name.startswith("x-amz-")) and name not in signed
    )
    if "host" not in signed or "x-amz-date" not in signed or unsigned:
        raise _incomplete(
            "host, x-amz-date and every x-amz-* header sent must be signed; "
            f"unsigned: {', '.join(unsigned or ['host/x-amz-date'])}"
        )


def _signing_time(request: ReceivedRequest, scope_date: str, now: datetime) -> str:
    amz_date = request.header("x-amz-date") or ""
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _incomplete(
            f"X-Amz-Date must have the form YYYYMMDDTHHMMSSZ, not {amz_date!r}"
        ) from None
    if amz_date[:8] != scope_date:
        raise _invalid(
            f"Date in Credential scope does not match YYYYMMDD from X-Amz-Date: {amz_date}"
        )
    stamp = now.strftime(AMZ_DATE_FORMAT)
    if signed_at < now - MAX_CLOCK_SKEW:
        earliest = (now - MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)
        raise _invalid(
            f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 15 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        latest = (now + MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)
        raise _invalid(
            f"Signature not yet current: {amz_date} is still later than {latest} "
            f"({stamp} + 15 min.)"
        )
    return amz_date


def _check_payload_hash(request: ReceivedRequest) -> None:
    """botocore's signer trusts X-Amz-Content-SHA256 for the body's hash; the body must match it."""
    declared = request.header("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(request.body).hexdigest():
        raise _invalid("The provided 'x-amz-content-sha256' header does not match the body")


def _signature(
    request: ReceivedRequest,
    signed: list[str],
    credentials: GatewayCredentials,
    region: str,
    amz_date: str,
) -> str:
    """botocore's SigV4 over the signed headers' values as received, at the request's own time."""
    host = request.header("host") or ""
    aws_request = AWSRequest(method=request.method, url=f"http://{host}{request.path}")
    for name in signed:
        for value in request.headers[name]:
            aws_request.headers.add_header(name, value)
    aws_request.data = request.body
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key), SERVICE, region
    )
    canonical = signer.canonical_request(aws_request)
    return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)


def _refusal(code: str, message: str, status: int = 400) -> GatewayApiError:
    return GatewayApiError(message, error_code=code, code=code, status=status)


def _incomplete(message: str) -> GatewayApiError:
    return _refusal("IncompleteSignature", message)


def _invalid(message: str) -> GatewayApiError:
    return _refusal("InvalidSignatureException", message)
