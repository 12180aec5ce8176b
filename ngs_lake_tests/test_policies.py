"""The full AWS policy documents, checked statically (moto cannot enforce conditional Denies)."""

import json

from ngs_lake.config.document import load_lake_config
from ngs_lake.provisioning.policies import (
    consumer_iam_policy,
    gateway_role_iam_policy,
    sequencer_bucket_policy,
    split_for_target,
)
from ngs_lake.provisioning.worm import WormSettings, worm_refusals
from ngs_lake_tests.conftest import SHIPPED_CONFIG, SMALL_CONFIG

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SMALL = load_lake_config(SMALL_CONFIG)


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_sequencer_bucket_policy_is_valid_json_with_the_right_arns():
    document = json.loads(json.dumps(sequencer_bucket_policy(SMALL, "NVX-MAD-01", KEY)))
    assert document["Version"] == "2012-10-17"
    statements = {s["Sid"]: s for s in document["Statement"]}
    deny_delete = statements["DenyDeletionExceptBreakGlass"]
    assert deny_delete["Effect"] == "Deny"
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deny_delete["Action"])
    assert deny_delete["Resource"] == "arn:aws:s3:::small-lake-nvx-mad-01/*"
    assert deny_delete["Condition"] == {
        "ArnNotEquals": {
            "aws:PrincipalArn": "arn:aws:iam::123456789012:role/small-lake-break-glass"
        }
    }
    tls = statements["DenyInsecureTransport"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tls["Resource"] == [
        "arn:aws:s3:::small-lake-nvx-mad-01",
        "arn:aws:s3:::small-lake-nvx-mad-01/*",
    ]
    # One Deny per header (the keys of one operator are ANDed); their decisions are evaluated
    # in test_policy_evaluation.py.
    assert statements["DenyKmsKeyOtherThanLakeKey"]["Condition"] == {
        "StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
        "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY},
    }
    retention = statements["DenyRetentionShorterThanPolicy"]["Condition"]["NumericLessThan"]
    assert retention == {"s3:object-lock-remaining-retention-days": "365"}
    qc = statements["ConsumerReadIlluminaQc"]
    assert qc["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/illumina-qc"}
    assert qc["Resource"] == [
        "arn:aws:s3:::small-lake-nvx-mad-01/InterOp-exports/*",
        "arn:aws:s3:::small-lake-nvx-mad-01/reports/*",
    ]
    assert statements["ConsumerListIlluminaQc"]["Condition"] == {
        "StringLike": {"s3:prefix": ["InterOp-exports/*", "reports/*"]}
    }


def test_local_target_keeps_conditional_denies_for_aws_only():
    document = sequencer_bucket_policy(SMALL, "NVX-MAD-01", KEY)
    applied, aws_only = split_for_target(document, is_local=True)
    assert aws_only == [
        "DenyDeletionExceptBreakGlass",
        "DenyRetentionShorterThanPolicy",
        "DenyInsecureTransport",
        "DenyEncryptionOtherThanKms",
        "DenyKmsKeyOtherThanLakeKey",
    ]
    assert all(s["Effect"] == "Allow" for s in applied["Statement"])
    assert split_for_target(document, is_local=False) == (document, [])


def test_each_consumer_gets_only_get_and_list_on_its_prefixes():
    config = load_lake_config(SHIPPED_CONFIG)
    for consumer in config.consumers:
        document = consumer_iam_policy(config, consumer, KEY)
        buckets = {f"ngs-lake-{s.id.lower()}" for s in config.consumer_sequencers(consumer)}
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                service, verb = action.split(":")
                if service == "s3":
                    assert verb.startswith(("Get", "List")), action
                else:
                    assert action == "kms:Decrypt"
            for resource in as_list(statement["Resource"]):
                if resource.startswith("arn:aws:s3:::"):
                    bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
                    assert bucket in buckets
                    if key:
                        assert any(key == f"{p}*" for p in consumer.read_prefixes)
                else:
                    assert resource == KEY


def test_nanopore_consumer_reads_only_nanopore_buckets():
    config = load_lake_config(SHIPPED_CONFIG)
    consumer = next(c for c in config.consumers if c.name == "nanopore-basecalling")
    document = consumer_iam_policy(config, consumer, KEY)
    read = next(s for s in document["Statement"] if s["Sid"] == "ReadRunObjects")
    assert read["Resource"] == [
        "arn:aws:s3:::ngs-lake-prm-mad-01/*",
        "arn:aws:s3:::ngs-lake-grd-mad-01/*",
        "arn:aws:s3:::ngs-lake-prm-sea-01/*",
    ]


def test_prefix_limited_consumer_lists_only_its_prefixes():
    consumer = next(c for c in SMALL.consumers if c.name == "illumina-qc")
    document = consumer_iam_policy(SMALL, consumer, KEY)
    listing = next(s for s in document["Statement"] if s["Sid"] == "ListRunPrefixes")
    assert listing["Resource"] == [
        "arn:aws:s3:::small-lake-nvx-mad-01",
        "arn:aws:s3:::small-lake-mis-mad-01",
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["InterOp-exports/*", "reports/*"]}}


def test_gateway_role_deletes_nothing_and_reaches_only_lake_buckets():
    document = gateway_role_iam_policy(SMALL, KEY)
    s3_actions = {
        a for s in document["Statement"] for a in as_list(s["Action"]) if a.startswith("s3:")
    }
    assert {"s3:PutObject", "s3:AbortMultipartUpload"} <= s3_actions
    assert not [a for a in s3_actions if "Delete" in a or "Retention" in a or a == "s3:*"]
    for statement in document["Statement"]:
        for resource in as_list(statement["Resource"]):
            if resource.startswith("arn:aws:s3:::"):
                assert resource.removeprefix("arn:aws:s3:::").split("/")[0] in {
                    "small-lake-nvx-mad-01",
                    "small-lake-mis-mad-01",
                    "small-lake-prm-mad-01",
                }
    write = next(s for s in document["Statement"] if s["Sid"] == "WriteRunObjects")
    assert write["Resource"] == [
        "arn:aws:s3:::small-lake-nvx-mad-01/*",
        "arn:aws:s3:::small-lake-mis-mad-01/*",
        "arn:aws:s3:::small-lake-prm-mad-01/*",
    ]


def test_suspending_versioning_on_a_locked_bucket_is_refused():
    current = WormSettings("Enabled", "COMPLIANCE", 365)
    assert worm_refusals("b", current, WormSettings("Suspended", "COMPLIANCE", 365)) == [
        "bucket b: refusing to set versioning to Suspended; it holds Object Lock data, and AWS "
        "never allows suspending versioning there"
    ]


def test_strengthening_worm_is_allowed():
    current = WormSettings("Enabled", "GOVERNANCE", 365)
    assert worm_refusals("b", current, WormSettings("Enabled", "COMPLIANCE", 3650)) == []
