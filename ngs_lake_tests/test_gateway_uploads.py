"""The software gateway as a separate process: test code only writes files into share folders and
observes S3, the events queue and the gateway API from outside.
"""

import base64
import hashlib
import json
import os
import re
import signal
import time
from collections import Counter
from datetime import datetime

import pytest
from botocore.stub import Stubber

from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.config.document import load_lake_config
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.conftest import SMALL_CONFIG, edited_config, lake_clients

# AWS's published example of a Storage Gateway object upload event (ARCHITECTURE §3).
AWS_OBJECT_UPLOAD_EXAMPLE = {
    "version": "0",
    "id": "<uuid>",
    "detail-type": "Storage Gateway Object Upload Event",
    "source": "aws.storagegateway",
    "account": "123456789012",
    "time": "2026-11-28T12:34:56Z",
    "region": "us-east-1",
    "resources": [
        "arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451",
        "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-712345DA",
        "arn:aws:s3:::bucket-name",
    ],
    "detail": {
        "object-size": 1024,
        "modification-time": "2026-11-28T12:30:00Z",
        "object-key": "RUN/RunInfo.xml",
        "event-type": "object-upload-complete",
        "prefix": "",
        "bucket-name": "bucket-name",
    },
}
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BUCKET = "small-lake-mis-mad-01"


@pytest.fixture
def lake(moto, start_gateway, tmp_path):
    """The small lake with 1 s settling, its shares on a running gateway."""
    path = edited_config(
        tmp_path, SMALL_CONFIG, lambda d: d["lake"].update(settling_time_seconds=1), "lake.yaml"
    )
    gateway = start_gateway(path)
    apply_plan(plan_lake(load_lake_config(path), lake_clients(moto, gateway)))
    share = gateway.state_dir / "gateways" / "gw-a" / "MIS-MAD-01"
    return moto, gateway, share


def wait_for(condition, timeout=60.0, interval=0.25, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s")


def keys_in(moto, bucket=BUCKET):
    s3 = moto.client("s3")
    keys, token = set(), None
    while True:
        kwargs = {"Bucket": bucket, **({"ContinuationToken": token} if token else {})}
        page = s3.list_objects_v2(**kwargs)
        keys |= {o["Key"] for o in page.get("Contents", [])}
        token = page.get("NextContinuationToken")
        if not token:
            return keys


def expected_keys(share):
    keys = set()
    for root, dirs, files in os.walk(share):
        relative = os.path.relpath(root, share)
        prefix = "" if relative == "." else relative + "/"
        keys |= {f"{prefix}{d}/" for d in dirs}
        keys |= {f"{prefix}{f}" for f in files}
    return keys


def drain_events(moto, idle_rounds=2):
    sqs = moto.client("sqs")
    url = sqs.get_queue_url(QueueName="small-lake-gateway-events")["QueueUrl"]
    events, idle = [], 0
    while idle < idle_rounds:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            idle += 1
            continue
        idle = 0
        events += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    return events


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_simulated_run_arrives_byte_identical_with_checksums(lake):
    moto, _gateway, share = lake
    runs = plan_simulation(
        RunSpec(
            platform="miseq", scenario="tiny", duration_seconds=2, seed=5, max_file_bytes=20_000
        )
    )
    simulate(runs, share, seed=5)
    wanted = expected_keys(share)
    wait_for(lambda: keys_in(moto) >= wanted, what="every file and folder in S3")
    s3 = moto.client("s3")
    for key in wanted:
        if key.endswith("/"):
            continue
        local = (share / key).read_bytes()
        obj = s3.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        assert obj["Body"].read() == local, key
        assert obj["ChecksumSHA256"] == sha256_b64(local), key


def test_one_event_per_object_in_aws_shape(lake):
    moto, gateway, share = lake
    runs = plan_simulation(RunSpec(platform="aviti", scenario="tiny", duration_seconds=1, seed=2))
    simulate(runs, share, seed=2)
    wanted = expected_keys(share)
    wait_for(lambda: keys_in(moto) >= wanted, what="upload")
    events = wait_for(lambda: (e := drain_events(moto)) and e, what="events")
    events += drain_events(moto)
    counts = Counter(e["detail"]["object-key"] for e in events)
    assert set(counts) == wanted
    assert set(counts.values()) == {1}

    share_arn = gateway.client().list_file_shares()["FileShareInfoList"]
    arns = {s["FileShareARN"] for s in share_arn}
    example = AWS_OBJECT_UPLOAD_EXAMPLE
    for event in events:
        assert list(event) == list(example)  # same fields, same order
        assert list(event["detail"]) == list(example["detail"])
        for field in example:
            assert type(event[field]) is type(example[field]), field
        for field in example["detail"]:
            assert type(event["detail"][field]) is type(example["detail"][field]), field
        assert event["detail-type"] == example["detail-type"]
        assert event["source"] == "aws.storagegateway"
        assert event["account"] == "123456789012"
        assert ISO_SECONDS.match(event["time"])
        assert ISO_SECONDS.match(event["detail"]["modification-time"])
        share_arn, gateway_arn, bucket_arn = event["resources"]
        assert share_arn in arns
        assert re.match(
            r"^arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-[0-9A-F]{8}$", gateway_arn
        )
        assert bucket_arn == f"arn:aws:s3:::{BUCKET}"
        assert event["detail"]["bucket-name"] == BUCKET
        assert event["detail"]["event-type"] == "object-upload-complete"
        key = event["detail"]["object-key"]
        size = 0 if key.endswith("/") else (share / key).stat().st_size
        assert event["detail"]["object-size"] == size


def test_a_file_growing_while_settling_is_uploaded_once_with_its_final_content(lake):
    moto, _gateway, share = lake
    target = share / "growing.bin"
    with target.open("wb") as handle:
        for _ in range(4):
            handle.write(os.urandom(50_000))
            handle.flush()
            time.sleep(0.4)  # each write lands inside the 1 s settling window
    final = target.read_bytes()
    wait_for(lambda: "growing.bin" in keys_in(moto), what="upload")
    time.sleep(2)  # a second upload, were there one, would have happened by now
    s3 = moto.client("s3")
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="growing.bin")["Versions"]
    assert len(versions) == 1
    assert s3.get_object(Bucket=BUCKET, Key="growing.bin")["Body"].read() == final


def test_a_changed_file_becomes_a_new_version(lake):
    moto, _gateway, share = lake
    (share / "SampleSheet.csv").write_text("first\n")
    wait_for(lambda: "SampleSheet.csv" in keys_in(moto), what="first upload")
    (share / "SampleSheet.csv").write_text("second, longer\n")
    s3 = moto.client("s3")
    versions = wait_for(
        lambda: (
            len(v := s3.list_object_versions(Bucket=BUCKET, Prefix="SampleSheet.csv")["Versions"])
            == 2
            and v
        ),
        what="second version",
    )
    assert {v["IsLatest"] for v in versions} == {True, False}
    assert s3.get_object(Bucket=BUCKET, Key="SampleSheet.csv")["Body"].read() == b"second, longer\n"


def test_sigkill_mid_upload_loses_nothing_and_reuploads_nothing(lake):
    moto, gateway, share = lake
    for index in range(40):
        (share / "batch" / f"part-{index:02d}.bin").parent.mkdir(exist_ok=True)
        (share / "batch" / f"part-{index:02d}.bin").write_bytes(os.urandom(400_000))
    wanted = expected_keys(share)
    wait_for(lambda: 3 <= len(keys_in(moto)) < len(wanted), interval=0.05, what="a partial upload")
    gateway.process.signal(signal.SIGKILL)
    gateway.process._popen.wait()
    gateway.restart()
    wait_for(lambda: keys_in(moto) >= wanted, what="everything after the restart")
    versions = moto.client("s3").list_object_versions(Bucket=BUCKET)["Versions"]
    puts = Counter(v["Key"] for v in versions)
    assert set(puts) == wanted
    assert set(puts.values()) == {1}, {k: n for k, n in puts.items() if n > 1}


def test_notify_when_uploaded_waits_for_files_still_settling(lake):
    moto, gateway, share = lake
    sgw = gateway.client()
    share_arn = next(
        s["FileShareARN"]
        for s in sgw.describe_smb_file_shares(
            FileShareARNList=[
                s["FileShareARN"] for s in sgw.list_file_shares()["FileShareInfoList"]
            ]
        )["SMBFileShareInfoList"]
        if s["FileShareName"] == "MIS-MAD-01"
    )
    (share / "CopyComplete.txt").write_text("done\n")
    notification_id = StorageGatewayShares(sgw).notify_when_uploaded(share_arn)
    assert re.match(r"^[0-9a-f-]{36}$", notification_id)
    completion = wait_for(
        lambda: next(
            (
                e
                for e in drain_events(moto, idle_rounds=1)
                if e["detail-type"] == "Storage Gateway File Upload Event"
            ),
            None,
        ),
        what="the upload-complete event",
    )
    detail = completion["detail"]
    assert detail["event-type"] == "upload-complete"
    assert detail["notification-id"] == notification_id
    assert completion["resources"][0] == share_arn
    stored = moto.client("s3").head_object(Bucket=BUCKET, Key="CopyComplete.txt")["LastModified"]
    completed = datetime.fromisoformat(detail["completed"].replace("Z", "+00:00"))
    received = datetime.fromisoformat(detail["request-received"].replace("Z", "+00:00"))
    assert completed >= stored.replace(microsecond=0)
    assert received <= completed


def test_a_pending_notification_survives_kill_9(lake):
    moto, gateway, share = lake
    sgw = gateway.client()
    arns = [s["FileShareARN"] for s in sgw.list_file_shares()["FileShareInfoList"]]
    share_arn = next(
        s["FileShareARN"]
        for s in sgw.describe_smb_file_shares(FileShareARNList=arns)["SMBFileShareInfoList"]
        if s["FileShareName"] == "MIS-MAD-01"
    )
    (share / "late.txt").write_text("x\n")
    notification_id = sgw.notify_when_uploaded(FileShareARN=share_arn)["NotificationId"]
    gateway.process.signal(signal.SIGKILL)
    gateway.process._popen.wait()
    assert "late.txt" not in keys_in(moto)  # killed inside the settling time
    gateway.restart()
    completion = wait_for(
        lambda: next(
            (
                e
                for e in drain_events(moto, idle_rounds=1)
                if e["detail"].get("notification-id") == notification_id
            ),
            None,
        ),
        what="the notification after restart",
    )
    assert completion["detail"]["event-type"] == "upload-complete"
    assert "late.txt" in keys_in(moto)


def test_an_endpoint_down_for_10_s_loses_nothing(lake, moto_server):
    moto, _gateway, share = lake
    moto_server.process.signal(signal.SIGSTOP)
    try:
        for index in range(10):
            (share / f"during-outage-{index}.txt").write_text(f"{index}\n")
        time.sleep(10)
    finally:
        moto_server.process.signal(signal.SIGCONT)
    wanted = expected_keys(share)
    wait_for(lambda: keys_in(moto) >= wanted, timeout=120, what="upload after the outage")
    events = wait_for(lambda: drain_events(moto), what="events after the outage")
    events += drain_events(moto)
    assert {e["detail"]["object-key"] for e in events} >= wanted


def test_symlinks_out_of_the_share_are_refused(lake):
    moto, gateway, share = lake
    (share / "escape").symlink_to("/etc")
    (share / "inside.txt").write_text("ok\n")
    (share / "inside-link").symlink_to(share / "inside.txt")
    wait_for(lambda: {"inside.txt", "inside-link"} <= keys_in(moto), what="the allowed files")
    assert not [k for k in keys_in(moto) if k.startswith("escape")]
    wait_for(
        lambda: (
            "refused escape in share MIS-MAD-01: symlink points outside the share"
            in gateway.process.log_path.read_text()
        ),
        what="the refusal in the log",
    )


def test_cache_figures_count_dirty_bytes_until_uploaded(lake):
    moto, gateway, share = lake
    import urllib.request

    def figures():
        with urllib.request.urlopen(f"{gateway.endpoint}/v1/cache") as answer:
            data = json.load(answer)
        gw = next(g for g in data["gateways"] if g["gateway_id"] == "gw-a")
        return next(s for s in gw["shares"] if s["share_name"] == "MIS-MAD-01"), gw

    (share / "a.bin").write_bytes(b"x" * 12_345)
    wait_for(lambda: "a.bin" in keys_in(moto), what="upload")
    share_figures, gateway_figures = wait_for(
        lambda: (f := figures())[0]["dirty_bytes"] == 0 and f, what="clean cache"
    )
    assert share_figures["used_bytes"] == 12_345
    assert share_figures["oldest_dirty_age_seconds"] is None
    described = gateway.client().describe_cache(GatewayARN=gateway_figures["gateway_arn"])
    assert described["CacheDirtyPercentage"] == 0.0
    assert described["CacheAllocatedInBytes"] == 16 * 2**40


# Stubber: the calls the pipeline makes are the ones AWS accepts.


def test_notify_when_uploaded_request_has_aws_shape():
    import boto3

    client = boto3.client(
        "storagegateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    share_arn = "arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451"
    with Stubber(client) as stub:
        stub.add_response(
            "notify_when_uploaded",
            {"FileShareARN": share_arn, "NotificationId": "abc-123"},
            {"FileShareARN": share_arn},
        )
        assert StorageGatewayShares(client).notify_when_uploaded(share_arn) == "abc-123"
        stub.assert_no_pending_responses()


def test_share_tags_request_has_aws_shape_and_is_cached():
    import boto3

    client = boto3.client(
        "storagegateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    share_arn = "arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451"
    shares = StorageGatewayShares(client)
    with Stubber(client) as stub:
        stub.add_response(
            "list_tags_for_resource",
            {
                "ResourceARN": share_arn,
                "Tags": [{"Key": "lab", "Value": "Madison"}],
                "Marker": "m1",
            },
            {"ResourceARN": share_arn},
        )
        stub.add_response(
            "list_tags_for_resource",
            {"ResourceARN": share_arn, "Tags": [{"Key": "platform", "Value": "miseq"}]},
            {"ResourceARN": share_arn, "Marker": "m1"},
        )
        assert shares.tags(share_arn) == {"lab": "Madison", "platform": "miseq"}
        assert shares.tags(share_arn) == {"lab": "Madison", "platform": "miseq"}  # no third call
        stub.assert_no_pending_responses()
