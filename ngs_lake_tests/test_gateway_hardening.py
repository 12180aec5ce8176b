"""The software gateway, hardened: signed requests only, share folders that stay inside the share
root, uploads under the share's SSE-KMS settings, and loops that restart and show on /health.

One gateway process serves the whole module, provisioned with the small lake; it reaches moto
through a fault proxy, so a test can make EventBridge refuse PutEvents for a while.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from click.testing import CliRunner

from ngs_lake.cli import main
from ngs_lake.config.document import load_lake_config
from ngs_lake.gateway.uploader import encryption_arguments, upload_file
from ngs_lake.local.processes import ManagedProcess, free_port, gateway_argv, http_ok
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake_tests.conftest import (
    CREDENTIALS,
    GATEWAY_CREDENTIALS,
    SMALL_CONFIG,
    Gateway,
    MotoServer,
    edited_config,
    lake_clients,
)
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.test_gateway_uploads import drain_events, wait_for

# The module's tests share one gateway and reset moto once: one xdist worker runs them all, in a
# row (`--dist loadgroup`), under the group name conftest gives module-scoped fixtures.
pytestmark = pytest.mark.xdist_group("ngs_lake_tests.test_gateway_hardening")

TARGET = "StorageGateway_20130630."
MULTIPART_FILE_BYTES = 17 * 1024 * 1024  # just over the uploader's 16 MiB multipart threshold


@dataclass
class HardenedLake:
    moto: MotoServer
    gateway: Gateway
    proxy: FaultProxy

    def share(self, gateway_id: str, name: str) -> Path:
        return self.gateway.state_dir / "gateways" / gateway_id / name

    def share_info(self, name: str) -> dict:
        sgw = self.gateway.client()
        arns = [s["FileShareARN"] for s in sgw.list_file_shares()["FileShareInfoList"]]
        infos = sgw.describe_smb_file_shares(FileShareARNList=arns)["SMBFileShareInfoList"]
        return next(i for i in infos if i["FileShareName"] == name)

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{self.gateway.endpoint}/health", timeout=10) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as refused:
            return refused.code, json.load(refused)


@pytest.fixture(scope="module")
def lake(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HardenedLake]:
    moto_server.reset()
    work = tmp_path_factory.mktemp("hardened")
    config_path = edited_config(
        work, SMALL_CONFIG, lambda d: d["lake"].update(settling_time_seconds=1), "lake.yaml"
    )
    port = free_port()
    with FaultProxy(int(moto_server.endpoint.rsplit(":", 1)[1])) as proxy:
        env = {
            **os.environ,
            **CREDENTIALS,
            **GATEWAY_CREDENTIALS,
            "NGS_LAKE_AWS_ENDPOINT_URL": proxy.endpoint,
            "NGS_LAKE_TARGET": "local",
        }
        argv = gateway_argv(config_path, work / "state", port)
        process = ManagedProcess("gateway", argv, env, work / "gateway.log").start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            process.wait_ready(lambda: http_ok(f"{endpoint}/health"))
            gateway = Gateway(endpoint, work / "state", process, config_path)
            apply_plan(plan_lake(load_lake_config(config_path), lake_clients(moto_server, gateway)))
            yield HardenedLake(moto_server, gateway, proxy)
        finally:
            process.stop()


def post(endpoint: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(f"{endpoint}/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def signed_headers(
    endpoint: str, action: str, body: bytes, key: str = "testing", secret: str = "testing"
) -> dict[str, str]:
    """Headers botocore's SigV4 signer gives this request, as boto3 would send them."""
    request = AWSRequest(
        method="POST",
        url=f"{endpoint}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + action},
    )
    SigV4Auth(Credentials(key, secret), "storagegateway", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def sgw_client(lake: HardenedLake, key: str, secret: str):
    return boto3.client(
        "storagegateway",
        endpoint_url=lake.gateway.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


# Signed requests


def test_unsigned_requests_are_refused_as_aws_refuses_them(lake):
    endpoint = lake.gateway.endpoint
    plain = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + "ListGateways"}
    status, body = post(endpoint, b"{}", plain)
    assert (status, body["__type"]) == (403, "MissingAuthenticationToken")
    half = {**plain, "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1"}
    status, body = post(endpoint, b"{}", half)
    assert (status, body["__type"]) == (400, "IncompleteSignature")


def test_an_unknown_key_and_a_wrong_secret_are_refused(lake):
    unknown = sgw_client(lake, "AKIDNOBODYKNOWS", "testing")
    assert error_of(unknown.list_gateways) == (400, "UnrecognizedClientException")
    wrong_secret = sgw_client(lake, "testing", "not-the-secret")
    assert error_of(wrong_secret.list_file_shares) == (400, "InvalidSignatureException")


def test_the_gateways_credentials_work_as_before(lake):
    sgw = sgw_client(lake, "testing", "testing")
    assert {g["GatewayName"] for g in sgw.list_gateways()["Gateways"]} == {"gw-a", "gw-b"}
    assert len(sgw.list_file_shares()["FileShareInfoList"]) == 3


def test_a_signature_does_not_cover_another_body_or_action(lake):
    endpoint = lake.gateway.endpoint
    headers = signed_headers(endpoint, "ListFileShares", b"{}")
    assert post(endpoint, b"{}", headers)[0] == 200
    tampered = post(endpoint, b'{"GatewayARN": "x"}', headers)
    assert (tampered[0], tampered[1]["__type"]) == (400, "InvalidSignatureException")
    replayed = post(endpoint, b"{}", {**headers, "X-Amz-Target": TARGET + "DeleteFileShare"})
    assert (replayed[0], replayed[1]["__type"]) == (400, "InvalidSignatureException")
    # A signature made without X-Amz-Target must not carry one added afterwards.
    content_type = {"Content-Type": "application/x-amz-json-1.1"}
    request = AWSRequest(method="POST", url=f"{endpoint}/", data=b"{}", headers=content_type)
    SigV4Auth(Credentials("testing", "testing"), "storagegateway", "us-east-1").add_auth(request)
    added = {**dict(request.headers.items()), "X-Amz-Target": TARGET + "ListFileShares"}
    status, body = post(endpoint, b"{}", added)
    assert (status, body["__type"]) == (400, "IncompleteSignature")


def test_a_signature_older_than_15_minutes_has_expired(lake, monkeypatch):
    twenty_minutes_ago = datetime.now(UTC) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: twenty_minutes_ago)
    headers = signed_headers(lake.gateway.endpoint, "ListGateways", b"{}")
    status, body = post(lake.gateway.endpoint, b"{}", headers)
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    assert body["message"].startswith("Signature expired")


# Share names and parameters


def every_path(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("name", ["../x", "/abs", "nul\x00byte", ".."])
def test_a_share_name_that_leaves_the_share_root_is_refused(lake, name):
    sgw = lake.gateway.client()
    gateway_arn = next(
        g["GatewayARN"] for g in sgw.list_gateways()["Gateways"] if g["GatewayName"] == "gw-a"
    )
    state = lake.gateway.state_dir
    before, abs_before = every_path(state), Path("/abs").exists()
    create = lambda: sgw.create_smb_file_share(  # noqa: E731
        ClientToken="token-escape-" + name.encode().hex(),
        GatewayARN=gateway_arn,
        Role="arn:aws:iam::123456789012:role/small-lake-file-gateway",
        LocationARN="arn:aws:s3:::small-lake-nvx-mad-01/",
        FileShareName=name,
    )
    assert error_of(create) == (400, "InvalidGatewayRequestException")
    assert every_path(state) == before
    assert not (state / "gateways" / "x").exists() and Path("/abs").exists() == abs_before


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("CreateSMBFileShare", {"NotificationPolicy": "[1]"}),
        ("CreateSMBFileShare", {"NotificationPolicy": '{"Upload":{"SettlingTimeInSeconds":true}}'}),
        ("CreateSMBFileShare", {"ReadOnly": "yes"}),
        ("DeleteFileShare", {"FileShareARN": ["not", "a", "string"]}),
        ("DescribeSMBFileShares", {"FileShareARNList": [1]}),
        ("RemoveTagsFromResource", {"ResourceARN": "x", "TagKeys": [{"a": 1}]}),
    ],
)
def test_bad_parameters_get_400_not_500(lake, action, body):
    if action == "CreateSMBFileShare":
        sgw = lake.gateway.client()
        gateway_arn = sgw.list_gateways()["Gateways"][0]["GatewayARN"]
        body = {
            "ClientToken": "token-bad-parameters",
            "GatewayARN": gateway_arn,
            "Role": "arn:aws:iam::123456789012:role/small-lake-file-gateway",
            "LocationARN": "arn:aws:s3:::small-lake-nvx-mad-01/",
            "FileShareName": "bad-parameters",
            **body,
        }
    raw = json.dumps(body).encode()
    status, answer = post(
        lake.gateway.endpoint, raw, signed_headers(lake.gateway.endpoint, action, raw)
    )
    assert (status, answer["__type"]) == (400, "InvalidGatewayRequestException"), answer


# Uploads under the share's encryption


def test_uploads_carry_the_shares_kms_key(lake, tmp_path):
    """Read back from S3 what the gateway process sent, then run its uploader in-process with a
    botocore hook on PutObject, CreateMultipartUpload and UploadPart."""
    info = lake.share_info("MIS-MAD-01")
    key_arn = info["KMSKey"]
    assert info["EncryptionType"] == "SseKms" and key_arn.startswith("arn:aws:kms:")
    share = lake.share("gw-a", "MIS-MAD-01")
    s3 = lake.moto.client("s3")
    bucket = "small-lake-mis-mad-01"
    # Without the bucket's default encryption, an object is under the lake key only if the
    # gateway asked for it (on AWS the bucket policy refuses a PutObject that does not).
    s3.delete_bucket_encryption(Bucket=bucket)
    (share / "small.txt").write_text("small\n")
    (share / "large.bin").write_bytes(os.urandom(MULTIPART_FILE_BYTES))

    def head(key):
        try:
            return s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return None

    for key in ("small.txt", "large.bin"):
        stored = wait_for(lambda key=key: head(key), what=f"{key} in S3")
        assert (stored["ServerSideEncryption"], stored["SSEKMSKeyId"]) == ("aws:kms", key_arn)

    seen: dict[str, dict] = {}
    session = boto3.Session(**{k.lower(): v for k, v in CREDENTIALS.items()})
    session.events.register(
        "before-call.s3.*", lambda model, params, **_: seen.__setitem__(model.name, params)
    )
    session.events.register(
        "after-call.s3.UploadPart",
        lambda parsed, **_: seen.__setitem__("UploadPart answer", parsed),
    )
    client = session.client("s3", endpoint_url=lake.moto.endpoint, region_name="us-east-1")
    encryption = encryption_arguments(info)
    upload_file(client, share / "small.txt", bucket, "in-process/small.txt", encryption)
    upload_file(client, share / "large.bin", bucket, "in-process/large.bin", encryption)
    for call in ("PutObject", "CreateMultipartUpload"):
        assert seen[call]["headers"]["x-amz-server-side-encryption"] == "aws:kms"
        assert seen[call]["headers"]["x-amz-server-side-encryption-aws-kms-key-id"] == key_arn
    # S3 takes SSE-KMS settings on CreateMultipartUpload; each part is stored under them.
    answer = seen["UploadPart answer"]
    assert (answer["ServerSideEncryption"], answer["SSEKMSKeyId"]) == ("aws:kms", key_arn)


# Supervised loops


def test_a_failing_loop_restarts_and_health_shows_it(lake):
    share = lake.share("gw-b", "PRM-MAD-01")
    shutil.rmtree(share)
    share.write_text("a file where the share folder was\n")  # scandir: NotADirectoryError
    try:
        _status, health = wait_for(
            lambda: (h := lake.health())[0] == 503 and h, what="/health answering 503"
        )
        scan = health["loops"]["scan"]
        assert scan["state"] == "restarting" and scan["restarts"] >= 1
        assert "PRM-MAD-01: NotADirectoryError" in scan["last_error"]
    finally:
        share.unlink()
        share.mkdir()
    (share / "after-repair.txt").write_text("back\n")
    wait_for(
        lambda: (
            lake.health()[0] == 200
            and (scan := lake.health()[1]["loops"]["scan"])["last_success_at"]
            > scan["last_error_at"]
        ),
        what="the scan loop running again",
    )
    s3 = lake.moto.client("s3")
    wait_for(
        lambda: s3.list_objects_v2(Bucket="small-lake-prm-mad-01", Prefix="after-repair.txt").get(
            "KeyCount"
        ),
        what="a file written after the repair uploaded",
    )


def test_a_retired_share_announces_its_backlog_before_it_goes(lake):
    sgw = lake.gateway.client()
    share_arn = lake.share_info("NVX-MAD-01")["FileShareARN"]
    gateway_arn = lake.share_info("NVX-MAD-01")["GatewayARN"]
    drain_events(lake.moto, idle_rounds=1)
    lake.proxy.faults.set("PutEvents", "fail")
    try:
        (lake.share("gw-a", "NVX-MAD-01") / "last-words.txt").write_text("announce me\n")

        def uploaded_not_announced():
            with urllib.request.urlopen(f"{lake.gateway.endpoint}/v1/cache") as answer:
                shares = [s for g in json.load(answer)["gateways"] for s in g["shares"]]
            mine = next(s for s in shares if s["share_arn"] == share_arn)
            return mine["dirty_files"] == 0 and mine["events_pending"] >= 1

        wait_for(uploaded_not_announced, what="the file uploaded, its event held back")
        # As provisioning retires a moved sequencer's share: no dirty cache, then delete.
        assert sgw.describe_cache(GatewayARN=gateway_arn)["CacheDirtyPercentage"] == 0
        sgw.delete_file_share(FileShareARN=share_arn)
        listed = sgw.list_file_shares(GatewayARN=gateway_arn)["FileShareInfoList"]
        assert {s["FileShareARN"]: s["FileShareStatus"] for s in listed}[share_arn] == "DELETING"
    finally:
        lake.proxy.faults.set("PutEvents", None)
    events: list[dict] = []

    def announced():
        events.extend(drain_events(lake.moto, idle_rounds=1))
        return any(e["detail"]["object-key"] == "last-words.txt" for e in events)

    wait_for(announced, what="the retired share's last event")
    wait_for(
        lambda: (
            share_arn
            not in {s["FileShareARN"] for s in sgw.list_file_shares()["FileShareInfoList"]}
        ),
        what="the share gone once its backlog is announced",
    )
    wait_for(lambda: lake.health()[0] == 200, what="/health ok again")


# The command line


def test_the_gateway_binds_to_an_explicit_address_only():
    answer = CliRunner().invoke(
        main, ["gateway", "run", "--config", str(SMALL_CONFIG), "--host", "gateway.example"]
    )
    assert answer.exit_code == 2 and "is not an IP address" in answer.output


def test_the_gateway_does_not_start_on_aws_without_its_key_pair(monkeypatch):
    for name in GATEWAY_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NGS_LAKE_TARGET", "aws")
    answer = CliRunner().invoke(main, ["gateway", "run", "--config", str(SMALL_CONFIG)])
    assert answer.exit_code == 2
    assert "NGS_LAKE_GATEWAY_ACCESS_KEY_ID" in answer.output
