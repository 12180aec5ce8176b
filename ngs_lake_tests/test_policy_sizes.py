"""Every generated policy fits what AWS accepts. The limits, from AWS's pages:
- IAM (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html): a managed
  policy 6,144 characters, a role's inline policies together 10,240, 10 managed policies per
  role by default; IAM counts characters without white space.
- S3 bucket policy 20 KB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html).
- SQS queue policy 8,192 bytes
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-policies.html).
The lake's documents are the product's own, for the shipped config/lake.yaml (25 sequencers)
and config/examples/small.yaml."""

from __future__ import annotations

import json
import re

import pytest

from ngs_lake.config.document import load_lake_config
from ngs_lake.provisioning.dagster_roles import DAEMON, daemon_policy
from ngs_lake.provisioning.iam_arns import LakeArns, PolicyTarget, document
from ngs_lake.provisioning.policies import all_policies
from ngs_lake.provisioning.policy_sizes import managed_policies, policy_size
from ngs_lake_tests.conftest import ACCOUNT, REPO, SMALL_CONFIG

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TARGET = PolicyTarget(ACCOUNT, KEY, compute_log_bucket="ngs-lake-dagster-logs")
CONFIGS = {"shipped": REPO / "config" / "lake.yaml", "small": SMALL_CONFIG}
PART = re.compile(r" \(managed policy \d+ of \d+\)$")


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def generated(request: pytest.FixtureRequest) -> dict[str, dict]:
    return all_policies(load_lake_config(CONFIGS[request.param], "aws"), TARGET)


def test_size_is_the_json_without_white_space():
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}
    assert policy_size(policy) == len(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}'
    )


def test_each_identity_policy_fits_a_managed_policy_and_each_role_its_quota(generated):
    identities = {n: d for n, d in generated.items() if not n.startswith(("bucket", "queue"))}
    assert identities
    for name, policy in identities.items():
        assert policy_size(policy) <= 6_144, (name, policy_size(policy))
    per_role: dict[str, int] = {}
    for name in identities:
        per_role[PART.sub("", name)] = per_role.get(PART.sub("", name), 0) + 1
    assert max(per_role.values()) <= 10, per_role


def test_each_resource_policy_fits_its_service(generated):
    for name, policy in generated.items():
        size = len(json.dumps(policy).encode())  # the attribute as set, white space and all
        if name.startswith("bucket policy"):
            assert size <= 20 * 1024, (name, size)
        elif name.startswith("queue policy"):
            assert size <= 8_192, (name, size)


def test_the_shipped_daemon_document_is_cut_as_it_outgrows_a_roles_inline_policies():
    """The finding of issue #35: about 11,000 characters, over the 10,240 of inline policies."""
    config = load_lake_config(CONFIGS["shipped"], "aws")
    whole = daemon_policy(LakeArns(config, TARGET))
    assert policy_size(whole) > 10_240
    parts = {n: d for n, d in all_policies(config, TARGET).items() if n.startswith(DAEMON)}
    n = len(parts)  # 2 for the shipped lake before fixity's statements, 3 with them
    assert n >= 2 and list(parts) == [
        f"{DAEMON} (managed policy {i} of {n})" for i in range(1, n + 1)
    ]
    assert [s for d in parts.values() for s in d["Statement"]] == whole["Statement"]


def test_a_statement_too_large_alone_is_cut_along_its_resources_granting_the_same():
    buckets = [f"arn:aws:s3:::lake-sequencer-{i:03d}/*" for i in range(400)]
    statement = {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": buckets}
    parts = managed_policies("reader", document([statement]))
    assert len(parts) > 1
    granted = []
    for name, part in parts.items():
        assert PART.search(name) and policy_size(part) <= 6_144, name
        for s in part["Statement"]:
            assert s["Action"] == ["s3:GetObject"]
            granted.extend(s["Resource"])
    assert granted == buckets  # every resource once, none widened
