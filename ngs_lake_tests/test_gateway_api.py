"""The software gateway's Storage Gateway API through boto3, as provisioning and AWS see it."""

import json
import re
import signal

import pytest
from botocore.stub import Stubber

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames
from ngs_lake.provisioning.context import ProvisioningContext
from ngs_lake.provisioning.shares import client_token, existing_shares, plan_sequencer_share
from ngs_lake_tests.conftest import SMALL_CONFIG

GATEWAY_ARN = re.compile(r"^arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-[0-9A-F]{8}$")
SHARE_ARN = re.compile(r"^arn:aws:storagegateway:us-east-1:123456789012:share/share-[0-9A-F]{8}$")
ROLE = "arn:aws:iam::123456789012:role/small-lake-file-gateway"


@pytest.fixture
def gateway(start_gateway):
    return start_gateway(SMALL_CONFIG)


def gateway_arns(sgw):
    return {g["GatewayName"]: g["GatewayARN"] for g in sgw.list_gateways()["Gateways"]}


def create_share(sgw, gateway_arn, name="NVX-MAD-01", token="token-0001"):
    return sgw.create_smb_file_share(
        ClientToken=token,
        GatewayARN=gateway_arn,
        Role=ROLE,
        LocationARN="arn:aws:s3:::small-lake-nvx-mad-01/",
        Authentication="GuestAccess",
        FileShareName=name,
        NotificationPolicy='{"Upload":{"SettlingTimeInSeconds":5}}',
        Tags=[{"Key": "site", "Value": "madison"}],
    )["FileShareARN"]


def test_gateways_are_listed_under_aws_form_arns(gateway):
    arns = gateway_arns(gateway.client())
    assert set(arns) == {"gw-a", "gw-b"}
    assert all(GATEWAY_ARN.match(arn) for arn in arns.values())
    assert arns["gw-a"] != arns["gw-b"]


def test_create_describe_and_tag_a_share(gateway):
    sgw = gateway.client()
    arn = create_share(sgw, gateway_arns(sgw)["gw-a"])
    assert SHARE_ARN.match(arn)
    (info,) = sgw.describe_smb_file_shares(FileShareARNList=[arn])["SMBFileShareInfoList"]
    assert info["FileShareName"] == "NVX-MAD-01"
    assert info["LocationARN"] == "arn:aws:s3:::small-lake-nvx-mad-01/"
    assert info["Authentication"] == "GuestAccess"
    assert info["FileShareStatus"] == "AVAILABLE"
    assert json.loads(info["NotificationPolicy"]) == {"Upload": {"SettlingTimeInSeconds": 5}}
    assert sgw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "site", "Value": "madison"}
    ]
    assert (gateway.state_dir / "gateways" / "gw-a" / "NVX-MAD-01").is_dir()


def test_a_repeated_client_token_returns_the_same_share(gateway):
    sgw = gateway.client()
    gateway_arn = gateway_arns(sgw)["gw-a"]
    first = create_share(sgw, gateway_arn)
    assert create_share(sgw, gateway_arn) == first
    assert len(sgw.list_file_shares(GatewayARN=gateway_arn)["FileShareInfoList"]) == 1


def test_errors_are_typed_as_on_aws(gateway):
    sgw = gateway.client()
    missing = "arn:aws:storagegateway:us-east-1:123456789012:share/share-00000000"
    with pytest.raises(sgw.exceptions.InvalidGatewayRequestException) as caught:
        sgw.describe_smb_file_shares(FileShareARNList=[missing])
    assert caught.value.response["Error"]["Code"] == "InvalidGatewayRequestException"
    assert caught.value.response["error"]["errorCode"] == "FileShareNotFound"

    gateway_arn = gateway_arns(sgw)["gw-a"]
    create_share(sgw, gateway_arn)
    with pytest.raises(sgw.exceptions.InvalidGatewayRequestException) as duplicate:
        create_share(sgw, gateway_arn, token="another-token")
    assert duplicate.value.response["error"]["errorCode"] == "FileShareAlreadyExists"

    with pytest.raises(sgw.exceptions.InvalidGatewayRequestException) as bad_policy:
        sgw.update_smb_file_share(
            FileShareARN=sgw.list_file_shares()["FileShareInfoList"][0]["FileShareARN"],
            NotificationPolicy='{"Upload":{"SettlingTimeInSeconds":0}}',
        )
    assert "SettlingTimeInSeconds" in bad_policy.value.response["Error"]["Message"]


def test_shares_survive_kill_9(gateway):
    sgw = gateway.client()
    arn = create_share(sgw, gateway_arns(sgw)["gw-a"])
    gateway.process.signal(signal.SIGKILL)
    gateway.process._popen.wait()
    gateway.restart()
    (info,) = gateway.client().describe_smb_file_shares(FileShareARNList=[arn])[
        "SMBFileShareInfoList"
    ]
    assert info["FileShareName"] == "NVX-MAD-01"
    assert gateway_arns(gateway.client())["gw-a"] == info["GatewayARN"]


# Botocore's Stubber checks each call's parameters against AWS's own service model, so these
# calls are the ones AWS accepts, not only the ones our gateway accepts.


def stubbed_context():
    config = load_lake_config(SMALL_CONFIG)
    clients = AwsClients(
        AwsTarget(region="us-east-1", endpoint_url="https://stub.invalid", name="aws"),
        credentials={"aws_access_key_id": "x", "aws_secret_access_key": "y"},
    )
    return ProvisioningContext(
        config,
        clients,
        "123456789012",
        LakeNames.of(config),
        _key_arn="arn:aws:kms:us-east-1:123456789012:key/abc",
    )


def test_create_smb_file_share_request_has_aws_shape():
    ctx = stubbed_context()
    sgw = ctx.clients.storagegateway()
    gateway_arn = "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-12A3456B"
    sequencer = ctx.config.sequencer("NVX-MAD-01")
    (share_change, _catalogue) = plan_sequencer_share(
        ctx, sequencer, {"gw-a": gateway_arn}, [], None
    )
    with Stubber(sgw) as stub:
        stub.add_response(
            "create_smb_file_share",
            {"FileShareARN": "arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451"},
            {
                "ClientToken": client_token(gateway_arn, "NVX-MAD-01"),
                "GatewayARN": gateway_arn,
                "Role": ROLE,
                "LocationARN": "arn:aws:s3:::small-lake-nvx-mad-01/",
                "EncryptionType": "SseKms",
                "KMSKey": "arn:aws:kms:us-east-1:123456789012:key/abc",
                "DefaultStorageClass": "S3_STANDARD",
                "ObjectACL": "bucket-owner-full-control",
                "Authentication": "GuestAccess",
                "FileShareName": "NVX-MAD-01",
                "NotificationPolicy": '{"Upload": {"SettlingTimeInSeconds": 5}}',
                "Tags": [
                    {"Key": "gateway", "Value": "gw-a"},
                    {"Key": "lab", "Value": "Madison Biotechnology Core"},
                    {"Key": "platform", "Value": "novaseq-x"},
                    {"Key": "sequencer", "Value": "NVX-MAD-01"},
                    {"Key": "site", "Value": "madison"},
                ],
            },
        )
        share_change.run()
        stub.assert_no_pending_responses()


def test_share_discovery_requests_have_aws_shape():
    ctx = stubbed_context()
    sgw = ctx.clients.storagegateway()
    gateway_arn = "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-12A3456B"
    share_arn = "arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451"
    with Stubber(sgw) as stub:
        stub.add_response(
            "list_file_shares",
            {
                "FileShareInfoList": [
                    {
                        "FileShareType": "SMB",
                        "FileShareARN": share_arn,
                        "FileShareId": "share-F123D451",
                        "FileShareStatus": "AVAILABLE",
                        "GatewayARN": gateway_arn,
                    }
                ]
            },
            {"GatewayARN": gateway_arn},
        )
        stub.add_response(
            "describe_smb_file_shares",
            {
                "SMBFileShareInfoList": [
                    {
                        "FileShareARN": share_arn,
                        "GatewayARN": gateway_arn,
                        "FileShareName": "NVX-MAD-01",
                        "NotificationPolicy": '{"Upload":{"SettlingTimeInSeconds":5}}',
                        "Tags": [{"Key": "site", "Value": "madison"}],
                    }
                ]
            },
            {"FileShareARNList": [share_arn]},
        )
        (share,) = existing_shares(ctx, {gateway_arn})
        stub.assert_no_pending_responses()
    assert share.name == "NVX-MAD-01"
    assert share.tags == {"site": "madison"}
