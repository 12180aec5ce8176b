"""Provisioning against a real moto server and the software gateway process.

Every setting is read back with boto3's own get/describe calls, not through ngs_lake's readers.
"""

import json
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError

from ngs_lake.config.document import load_lake_config
from ngs_lake.config.model import LakeConfigError
from ngs_lake.provisioning import Action, ProvisioningRefused, apply_plan, plan_lake
from ngs_lake.provisioning.worm import WormSettings, worm_refusals
from ngs_lake_tests.conftest import ACCOUNT, SMALL_CONFIG, edited_config, lake_clients

READ_PREFIXES = ("Get", "List", "Describe", "Head", "Scan", "Query", "BatchGet")


class CallCounter:
    """Counts every AWS operation a session's clients send, by a botocore event hook."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.session = boto3.Session()
        self.session.events.register("before-call.*.*", self._count)

    def _count(self, model, **kwargs) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    @property
    def mutating(self) -> dict[str, int]:
        return {
            call: n
            for call, n in self.calls.items()
            if not call.split(":", 1)[1].startswith(READ_PREFIXES)
        }


@pytest.fixture
def gateway(start_gateway):
    return start_gateway(SMALL_CONFIG)


@pytest.fixture
def provisioned(moto, gateway):
    config = load_lake_config(SMALL_CONFIG)
    apply_plan(plan_lake(config, lake_clients(moto, gateway)))
    return config


def plan_for(moto, gateway, config_path, counter: CallCounter | None = None):
    config = load_lake_config(config_path)
    clients = lake_clients(moto, gateway, counter.session if counter else None)
    return plan_lake(config, clients)


def test_sequencer_bucket_is_worm_encrypted_private_and_tagged(moto, provisioned):
    s3 = moto.client("s3")
    kms = moto.client("kms")
    bucket = "small-lake-nvx-mad-01"
    key_arn = kms.describe_key(KeyId="alias/small-lake")["KeyMetadata"]["Arn"]

    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert lock["Rule"]["DefaultRetention"]["Days"] == 365
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn,
    }
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {
        "managed-by": "ngs-lake",
        "site": "madison",
        "lab": "Madison Biotechnology Core",
        "platform": "novaseq-x",
        "sequencer": "NVX-MAD-01",
        "gateway": "gw-a",
    }
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True


def test_sequencer_bucket_lifecycle_inventory_logging(moto, provisioned):
    s3 = moto.client("s3")
    bucket = "small-lake-mis-mad-01"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [
        {"Days": 30, "StorageClass": "STANDARD_IA"},
        {"Days": 365, "StorageClass": "DEEP_ARCHIVE"},
    ]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    inventory = s3.get_bucket_inventory_configuration(Bucket=bucket, Id="small-lake-inventory")[
        "InventoryConfiguration"
    ]
    assert inventory["IsEnabled"] is True
    assert inventory["Schedule"] == {"Frequency": "Daily"}
    destination = inventory["Destination"]["S3BucketDestination"]
    assert destination["Bucket"] == "arn:aws:s3:::small-lake-inventory"
    assert destination["Format"] == "CSV"
    assert destination["Prefix"] == "inventory"
    assert {"Size", "ETag", "EncryptionStatus", "ObjectLockMode"} <= set(
        inventory["OptionalFields"]
    )
    assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"] == {
        "TargetBucket": "small-lake-access-logs",
        "TargetPrefix": "small-lake-mis-mad-01/",
    }


def test_bucket_policy_applies_only_unconditional_statements_locally(moto, provisioned):
    s3 = moto.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket="small-lake-nvx-mad-01")["Policy"])
    sids = {s["Sid"] for s in policy["Statement"]}
    assert sids == {
        "ConsumerReadIlluminaQc",
        "ConsumerListIlluminaQc",
        "ConsumerReadLims",
        "ConsumerListLims",
    }
    assert not [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    # PromethION data is outside the Illumina QC consumer's platform filter.
    promethion = json.loads(s3.get_bucket_policy(Bucket="small-lake-prm-mad-01")["Policy"])
    assert {s["Sid"] for s in promethion["Statement"]} == {"ConsumerReadLims", "ConsumerListLims"}


def test_deleting_a_locked_object_version_is_access_denied(moto, provisioned):
    s3 = moto.client("s3")
    version = s3.put_object(Bucket="small-lake-nvx-mad-01", Key="RUN/RunInfo.xml", Body=b"<x/>")[
        "VersionId"
    ]
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket="small-lake-nvx-mad-01", Key="RUN/RunInfo.xml", VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    head = s3.head_object(Bucket="small-lake-nvx-mad-01", Key="RUN/RunInfo.xml")
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_share_and_catalogue_entry(moto, gateway, provisioned):
    sgw = gateway.client()
    gateways = {g["GatewayName"]: g["GatewayARN"] for g in sgw.list_gateways()["Gateways"]}
    shares = sgw.list_file_shares(GatewayARN=gateways["gw-a"])["FileShareInfoList"]
    described = sgw.describe_smb_file_shares(FileShareARNList=[s["FileShareARN"] for s in shares])
    by_name = {s["FileShareName"]: s for s in described["SMBFileShareInfoList"]}
    assert set(by_name) == {"NVX-MAD-01", "MIS-MAD-01"}
    share = by_name["NVX-MAD-01"]
    assert share["LocationARN"] == "arn:aws:s3:::small-lake-nvx-mad-01/"
    assert json.loads(share["NotificationPolicy"]) == {"Upload": {"SettlingTimeInSeconds": 5}}
    assert share["Role"] == "arn:aws:iam::123456789012:role/small-lake-file-gateway"
    tags = sgw.list_tags_for_resource(ResourceARN=share["FileShareARN"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "site": "madison",
        "lab": "Madison Biotechnology Core",
        "platform": "novaseq-x",
        "sequencer": "NVX-MAD-01",
        "gateway": "gw-a",
    }
    assert (gateway.state_dir / "gateways" / "gw-a" / "NVX-MAD-01").is_dir()

    item = moto.client("dynamodb").get_item(
        TableName="small-lake-shares", Key={"sequencer_id": {"S": "NVX-MAD-01"}}
    )["Item"]
    assert item["mount_address"] == {"S": "\\\\10.30.1.11\\NVX-MAD-01"}
    assert item["bucket"] == {"S": "small-lake-nvx-mad-01"}
    assert item["share_arn"] == {"S": share["FileShareARN"]}
    assert item["site"] == {"S": "madison"}


def test_tables_queues_rule_topic_and_consumers(moto, provisioned):
    ddb = moto.client("dynamodb")
    runs = ddb.describe_table(TableName="small-lake-runs")["Table"]
    assert {i["IndexName"] for i in runs["GlobalSecondaryIndexes"]} == {
        "by-state",
        "by-sequencer",
        "by-site",
        "owing",
    }
    for table in (
        "small-lake-runs",
        "small-lake-run-files",
        "small-lake-events",
        "small-lake-shares",
    ):
        backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    files = ddb.describe_table(TableName="small-lake-run-files")["Table"]["KeySchema"]
    assert files == [
        {"AttributeName": "run_key", "KeyType": "HASH"},
        {"AttributeName": "path", "KeyType": "RANGE"},
    ]

    sqs = moto.client("sqs")
    queue = sqs.get_queue_url(QueueName="small-lake-gateway-events")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert int(attributes["VisibilityTimeout"]) > 60
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"].endswith(":small-lake-gateway-events-dlq")
    dlq = sqs.get_queue_url(QueueName="small-lake-gateway-events-dlq")["QueueUrl"]
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert dlq_attributes["MessageRetentionPeriod"] == "1209600"

    events = moto.client("events")
    pattern = json.loads(events.describe_rule(Name="small-lake-gateway-events")["EventPattern"])
    assert sorted(pattern["source"]) == ["aws.storagegateway", "ngs-lake.file-gateway"]
    assert "Storage Gateway Object Upload Event" in pattern["detail-type"]
    assert "Storage Gateway File Upload Event" in pattern["detail-type"]
    (target,) = events.list_targets_by_rule(Rule="small-lake-gateway-events")["Targets"]
    assert target["Arn"] == attributes["QueueArn"]
    # What the queue cannot take goes to its DLQ after bounded retries, and the DLQ lets only
    # this rule's EventBridge deliveries in (PutTargets read back with ListTargetsByRule):
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    target, dlq, rule = _rule_dead_letters(moto)
    assert target["DeadLetterConfig"] == {"Arn": dlq["arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert dlq["policy"]["Statement"] == [
        {
            "Sid": "EventBridgeDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": dlq["arn"],
            "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
        }
    ]

    sns = moto.client("sns")
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:small-lake-run-events.fifo"
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["FifoTopic"] == "true"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["Endpoint"].rsplit(":", 1)[1] for s in subscriptions) == [
        "small-lake-illumina-qc.fifo",
        "small-lake-lims.fifo",
    ]
    qc = next(s for s in subscriptions if s["Endpoint"].endswith("illumina-qc.fifo"))
    qc_attributes = sns.get_subscription_attributes(SubscriptionArn=qc["SubscriptionArn"])[
        "Attributes"
    ]
    assert qc_attributes["RawMessageDelivery"] == "true"
    assert json.loads(qc_attributes["FilterPolicy"]) == {
        "event_type": ["run.completed"],
        "platform": ["novaseq-x", "miseq"],
    }


def test_events_reach_the_queue_through_the_rule(moto, provisioned):
    """The rule and queue policy work together: an AWS-shaped event lands in the queue."""
    events = moto.client("events")
    events.put_events(
        Entries=[
            {
                "Source": "aws.storagegateway",
                "DetailType": "Storage Gateway Object Upload Event",
                "Detail": json.dumps({"object-key": "RUN/RunInfo.xml", "bucket-name": "b"}),
            }
        ]
    )
    sqs = moto.client("sqs")
    queue = sqs.get_queue_url(QueueName="small-lake-gateway-events")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"])["detail"]["object-key"] == "RUN/RunInfo.xml"


def _rule_dead_letters(moto) -> tuple[dict, dict, str]:
    """The rule's target as ListTargetsByRule returns it, the DLQ's policy, the rule's ARN."""
    events, sqs = moto.client("events"), moto.client("sqs")
    (target,) = events.list_targets_by_rule(Rule="small-lake-gateway-events")["Targets"]
    dlq = sqs.get_queue_url(QueueName="small-lake-gateway-events-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    rule = events.describe_rule(Name="small-lake-gateway-events")["Arn"]
    policy = json.loads(attributes["Policy"]) if "Policy" in attributes else {}
    return target, {"arn": attributes["QueueArn"], "policy": policy}, rule


def test_a_lake_provisioned_without_rule_dead_letters_gets_them_planned(moto, gateway, provisioned):
    """A lake from before: its target without DeadLetterConfig or RetryPolicy, its DLQ without
    a policy. The plan shows both as updates, the apply makes them, and a second is a no-op."""
    events, sqs = moto.client("events"), moto.client("sqs")
    target, dlq, _ = _rule_dead_letters(moto)
    old = {k: v for k, v in target.items() if k not in ("DeadLetterConfig", "RetryPolicy")}
    events.remove_targets(Rule="small-lake-gateway-events", Ids=[target["Id"]])
    events.put_targets(Rule="small-lake-gateway-events", Targets=[old])
    url = sqs.get_queue_url(QueueName="small-lake-gateway-events-dlq")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    assert "DeadLetterConfig" not in _rule_dead_letters(moto)[0]
    plan = plan_for(moto, gateway, SMALL_CONFIG)
    assert sorted((c.resource, c.name, c.action) for c in plan.mutations) == [
        ("events-target", "small-lake-gateway-events", Action.UPDATE),
        ("sqs-queue", "small-lake-gateway-events-dlq", Action.UPDATE),
    ]
    apply_plan(plan)
    target, dlq, _ = _rule_dead_letters(moto)
    assert target["DeadLetterConfig"] == {"Arn": dlq["arn"]} and dlq["policy"]
    assert plan_for(moto, gateway, SMALL_CONFIG).mutations == []


def test_second_apply_makes_no_mutating_call(moto, gateway, provisioned):
    counter = CallCounter()
    plan = plan_for(moto, gateway, SMALL_CONFIG, counter)
    applied = apply_plan(plan)
    assert applied == []
    assert plan.counts()["create"] == plan.counts()["update"] == plan.counts()["move"] == 0
    assert counter.mutating == {}
    assert sum(counter.calls.values()) > 50  # it did read everything back


def test_editing_one_setting_updates_only_that_resource(moto, gateway, provisioned, tmp_path):
    def longer_standard_ia(d):
        d["lake"]["lifecycle"][0]["days"] = 45

    path = edited_config(tmp_path, SMALL_CONFIG, longer_standard_ia, "lake.yaml")
    plan = plan_for(moto, gateway, path)
    assert sorted((c.resource, c.name, c.action) for c in plan.mutations) == [
        ("s3-lifecycle", f"small-lake-{s}", Action.UPDATE)
        for s in ("mis-mad-01", "nvx-mad-01", "prm-mad-01")
    ]
    counter = CallCounter()
    apply_plan(plan_for(moto, gateway, path, counter))
    assert counter.mutating == {"s3:PutBucketLifecycleConfiguration": 3}
    rules = moto.client("s3").get_bucket_lifecycle_configuration(Bucket="small-lake-nvx-mad-01")
    assert rules["Rules"][0]["Transitions"][0] == {"Days": 45, "StorageClass": "STANDARD_IA"}


def test_editing_settling_time_updates_only_the_shares(moto, gateway, provisioned, tmp_path):
    def slower(d):
        d["lake"]["settling_time_seconds"] = 30

    path = edited_config(tmp_path, SMALL_CONFIG, slower, "lake.yaml")
    counter = CallCounter()
    apply_plan(plan_for(moto, gateway, path, counter))
    assert counter.mutating == {"storagegateway:UpdateSMBFileShare": 3}


def test_removing_a_sequencer_retains_its_bucket(moto, gateway, provisioned, tmp_path):
    def drop_miseq(d):
        d["sequencers"] = [s for s in d["sequencers"] if s["id"] != "MIS-MAD-01"]

    path = edited_config(tmp_path, SMALL_CONFIG, drop_miseq, "lake.yaml")
    counter = CallCounter()
    plan = plan_for(moto, gateway, path, counter)
    retained = {(c.resource, c.name) for c in plan.changes if c.action == Action.RETAINED}
    assert retained == {
        ("s3-bucket", "small-lake-mis-mad-01"),
        ("smb-share", "gw-a/MIS-MAD-01"),
        ("catalogue-entry", "MIS-MAD-01"),
    }
    apply_plan(plan)
    assert not [call for call in counter.mutating if "Delete" in call]
    moto.client("s3").head_bucket(Bucket="small-lake-mis-mad-01")


def test_moving_a_sequencer_moves_its_share(moto, gateway, provisioned, tmp_path):
    def move_miseq(d):
        next(s for s in d["sequencers"] if s["id"] == "MIS-MAD-01")["gateway"] = "gw-b"

    path = edited_config(tmp_path, SMALL_CONFIG, move_miseq, "lake.yaml")
    plan = plan_for(moto, gateway, path)
    (move,) = [c for c in plan.changes if c.action == Action.MOVE]
    assert move.name == "gw-b/MIS-MAD-01"
    assert "moved from gw-a" in move.reason
    apply_plan(plan)

    sgw = gateway.client()
    arns = {g["GatewayName"]: g["GatewayARN"] for g in sgw.list_gateways()["Gateways"]}

    def share_names(gateway_id):
        listed = sgw.list_file_shares(GatewayARN=arns[gateway_id])["FileShareInfoList"]
        if not listed:
            return set()
        described = sgw.describe_smb_file_shares(
            FileShareARNList=[s["FileShareARN"] for s in listed]
        )
        return {s["FileShareName"] for s in described["SMBFileShareInfoList"]}

    assert share_names("gw-a") == {"NVX-MAD-01"}
    assert share_names("gw-b") == {"PRM-MAD-01", "MIS-MAD-01"}
    item = moto.client("dynamodb").get_item(
        TableName="small-lake-shares", Key={"sequencer_id": {"S": "MIS-MAD-01"}}
    )["Item"]
    assert item["gateway_id"] == {"S": "gw-b"}
    assert item["mount_address"] == {"S": "\\\\10.30.1.12\\MIS-MAD-01"}
    assert item["bucket"] == {"S": "small-lake-mis-mad-01"}
    assert plan_for(moto, gateway, path).mutations == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["lake"]["object_lock"].update(retention_days=30),
            # The fixity evidence bucket keeps the lake's retention and is planned first.
            "bucket small-lake-fixity-evidence: refusing to shorten default retention from 365 "
            "to 30 days; WORM retention only grows (set lake.object_lock.retention_days to at "
            "least 365)",
        ),
    ],
    ids=["shorten-retention"],
)
def test_weakening_worm_is_refused(moto, gateway, provisioned, tmp_path, edit, message):
    path = edited_config(tmp_path, SMALL_CONFIG, edit, "lake.yaml")
    with pytest.raises(ProvisioningRefused) as refused:
        plan_for(moto, gateway, path)
    assert refused.value.problems == [message]
    lock = moto.client("s3").get_object_lock_configuration(Bucket="small-lake-nvx-mad-01")
    assert lock["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] == 365


def test_moving_to_governance_is_refused_by_the_document_and_by_provisioning(tmp_path):
    """The document refuses GOVERNANCE before any call (the audit expects COMPLIANCE); the
    plan's own WORM rule still refuses the move for a bucket whatever the document says."""
    path = edited_config(
        tmp_path,
        SMALL_CONFIG,
        lambda d: d["lake"]["object_lock"].update(mode="GOVERNANCE"),
        "lake.yaml",
    )
    with pytest.raises(LakeConfigError) as refused:
        load_lake_config(path)
    assert refused.value.problems == [
        "lake.object_lock.mode: GOVERNANCE is refused: the lake's audit expects every object "
        "under COMPLIANCE, and GOVERNANCE lets a privileged user shorten or lift a lock; use "
        "COMPLIANCE"
    ]
    locked = WormSettings("Enabled", "COMPLIANCE", 365)
    assert worm_refusals(
        "small-lake-nvx-mad-01", locked, WormSettings("Enabled", "GOVERNANCE", 365)
    ) == [
        "bucket small-lake-nvx-mad-01: refusing to move Object Lock from COMPLIANCE to "
        "GOVERNANCE; COMPLIANCE retention cannot be weakened by anyone"
    ]


def test_lengthening_retention_is_an_update(moto, gateway, provisioned, tmp_path):
    path = edited_config(
        tmp_path,
        SMALL_CONFIG,
        lambda d: d["lake"]["object_lock"].update(retention_days=400),
        "l.yaml",
    )
    plan = plan_for(moto, gateway, path)
    assert {c.resource for c in plan.mutations} == {"s3-object-lock"}


def test_replication_is_configured_when_asked(moto, gateway, tmp_path):
    def replicate(d):
        d["lake"]["replication"] = {
            "destination_bucket": "small-lake-replica",
            "region": "us-west-2",
            "role_arn": "arn:aws:iam::123456789012:role/small-lake-replication",
            "replica_kms_key_arn": "arn:aws:kms:us-west-2:123456789012:key/abc",
        }

    path = edited_config(tmp_path, SMALL_CONFIG, replicate, "lake.yaml")
    apply_plan(plan_for(moto, gateway, path))
    replication = moto.client("s3").get_bucket_replication(Bucket="small-lake-nvx-mad-01")
    (rule,) = replication["ReplicationConfiguration"]["Rules"]
    assert replication["ReplicationConfiguration"]["Role"].endswith("role/small-lake-replication")
    assert rule["Destination"]["Bucket"] == "arn:aws:s3:::small-lake-replica"
    assert plan_for(moto, gateway, path).mutations == []


def test_a_gateway_the_api_does_not_know_is_refused(moto, start_gateway, tmp_path):
    def add_gateway(d):
        d["gateways"].append({**d["gateways"][1], "id": "gw-c", "ip": "10.30.1.13"})

    served = start_gateway(SMALL_CONFIG)  # serves gw-a and gw-b only
    path = edited_config(tmp_path, SMALL_CONFIG, add_gateway, "lake.yaml")
    with pytest.raises(ProvisioningRefused) as refused:
        plan_for(moto, served, path)
    assert refused.value.problems == [
        f"gateways[gw-c]: no gateway named 'gw-c' on the Storage Gateway API at {served.endpoint}; "
        "activate it under that name, or set gateways[gw-c].arn"
    ]
