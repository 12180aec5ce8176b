"""Requests and documents for the IAM policy evaluator (iam_evaluate.mjs, run by node).

The lake's documents come from the product code (`all_policies` and the functions it uses) for
config/examples/small.yaml; each principal of a case carries its generated identity document,
and each resource its generated resource policy. Same-account requests: an identity policy or
the resource policy may allow, and any explicit Deny wins.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest

from ngs_lake.config.document import load_lake_config
from ngs_lake.provisioning.dagster_roles import DAEMON, PROVISIONING_TASK, RUN_TASK, WEBSERVER
from ngs_lake.provisioning.policies import (
    PolicyTarget,
    all_policies,
    consumer_iam_policy,
    dagster_role_policies,
    gateway_role_iam_policy,
)
from ngs_lake_tests.conftest import ACCOUNT, REPO, SMALL_CONFIG

PACKAGE = "@cloud-copilot/iam-simulate"
EVALUATOR = REPO / "ngs_lake_tests" / "iam_evaluate.mjs"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

CONFIG = load_lake_config(SMALL_CONFIG)
TARGET = PolicyTarget(ACCOUNT, KEY, compute_log_bucket="small-lake-dagster")
POLICIES = all_policies(CONFIG, TARGET)
DAGSTER = dagster_role_policies(CONFIG, TARGET)


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def attached(name: str) -> list[dict[str, Any]]:
    """The managed policies generated for the Dagster role `name`, all attached to it."""
    return [d for n, d in DAGSTER.items() if n == name or n.startswith(f"{name} (managed policy ")]


GATEWAY = CONFIG.lake.gateway_role_arn
BREAK_GLASS = CONFIG.lake.break_glass_role_arn
QC, LIMS = (c.principal for c in CONFIG.consumers)  # illumina-qc (two prefixes), lims (all)
WEB, DAEMON_ROLE = role("small-lake-dagster-webserver"), role("small-lake-dagster-daemon")
RUN, PROVISIONER = role("small-lake-dagster-run"), role("small-lake-dagster-provisioning")
STRANGER = role("someone-else")
FIXITY_BATCH = role("small-lake-fixity-batch")

# Each principal's identity policies: the Dagster roles' generated managed policies, all of them
# (policy_sizes.py cuts a document too large for one), so every case judges them as deployed.
IDENTITY: dict[str, list[dict[str, Any]]] = {
    GATEWAY: [gateway_role_iam_policy(CONFIG, KEY, ACCOUNT)],
    **{c.principal: [consumer_iam_policy(CONFIG, c, KEY)] for c in CONFIG.consumers},
    WEB: attached(WEBSERVER),
    DAEMON_ROLE: attached(DAEMON),
    RUN: attached(RUN_TASK),
    PROVISIONER: attached(PROVISIONING_TASK),
    FIXITY_BATCH: [POLICIES[f"fixity batch role {FIXITY_BATCH}"]],
    # The break-glass role is the account's to define; it stands here with full access, so
    # what it is refused is what the lake's resource policies refuse it.
    BREAK_GLASS: [
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    ],
    STRANGER: [
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
        }
    ],
}

# kms_key.py creates the key without a policy, so it has AWS's default key policy: the account's
# IAM policies decide (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
DEFAULT_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}


@dataclass(frozen=True)
class Case:
    id: str
    principal: str
    action: str
    resource: str
    expected: str  # the evaluator's decision: Allowed, ImplicitlyDenied or ExplicitlyDenied
    context: dict[str, str | list[str]] = field(default_factory=dict)
    tls: bool = True


def resource_policy(resource: str) -> dict[str, Any] | None:
    """The resource's own policy, as the lake generates it (None where the lake sets none)."""
    if resource.startswith("arn:aws:s3:::"):
        name = resource.removeprefix("arn:aws:s3:::").split("/")[0]
        return POLICIES.get(f"bucket policy {name}")
    if resource.startswith("arn:aws:sqs:"):
        return POLICIES.get(f"queue policy {resource.rsplit(':', 1)[1]}")
    if resource.startswith("arn:aws:kms:"):
        return DEFAULT_KEY_POLICY
    return None


def request(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "principal": case.principal,
        "action": case.action,
        "resource": case.resource,
        "accountId": ACCOUNT,
        "identityPolicies": [
            {"name": f"generated-{i}", "policy": policy}
            for i, policy in enumerate(IDENTITY[case.principal], 1)
        ],
        "resourcePolicy": resource_policy(case.resource),
        "context": {
            "aws:SecureTransport": "true" if case.tls else "false",
            "aws:PrincipalArn": case.principal,
            "aws:PrincipalAccount": ACCOUNT,
            **case.context,
        },
    }


def document_checks() -> list[dict[str, Any]]:
    """Every generated document, for the evaluator's checks against AWS's reference data."""
    return [
        {"name": name, "resource": "Principal" in json.dumps(document), "policy": document}
        for name, document in POLICIES.items()
    ]


def run_evaluator(cases: list[Case]) -> dict[str, Any]:
    """One node process for the whole batch; fails (never skips) when node or the package is
    missing, so a machine without them cannot pass the suite by leaving the evaluation out."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the IAM policy evaluation needs Node 20+", pytrace=False)
    lock = json.loads((REPO / "package-lock.json").read_text())
    locked = lock["packages"][f"node_modules/{PACKAGE}"]["version"]
    installed = REPO / "node_modules" / PACKAGE / "package.json"
    version = json.loads(installed.read_text())["version"] if installed.is_file() else None
    if version != locked:
        pytest.fail(
            f"{PACKAGE} {locked} (package-lock.json) is not installed (found: {version}): "
            "run `npm ci` at the repo root (`make test` does)",
            pytrace=False,
        )
    batch = {"cases": [request(c) for c in cases], "documents": document_checks()}
    answer = subprocess.run(
        [node, str(EVALUATOR)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    if answer.returncode != 0:
        pytest.fail(f"{EVALUATOR.name} failed:\n{answer.stderr}", pytrace=False)
    return json.loads(answer.stdout)
