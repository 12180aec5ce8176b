"""What AWS lets a policy document weigh, and the identity documents cut to fit.

IAM counts a policy's characters without white space, so a document's size here is its minified
JSON. The limits (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
a customer-managed policy holds at most 6,144 characters, a role's inline policies together at
most 10,240, and a role takes 10 managed policies by default (20 on request). The daemon's
document alone outgrows an inline policy (its sensors verify, announce, alert and plan), and it
grows with every sequencer's bucket; so every identity document is generated as managed policies
of at most 6,144 characters each, cut along statements (a statement too large alone is cut along
its resources), never by widening a resource into a wildcard. Resource policies have their own
limits: an S3 bucket policy 20 KB
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html), an SQS queue
policy 8,192 bytes (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-policies.html).
"""

from __future__ import annotations

import json
from typing import Any

from ngs_lake.provisioning.iam_arns import Document, Statement, document

MANAGED_POLICY_CHARACTERS = 6_144
ROLE_INLINE_CHARACTERS = 10_240
MANAGED_POLICIES_PER_ROLE = 10
BUCKET_POLICY_BYTES = 20 * 1024
QUEUE_POLICY_BYTES = 8_192


def policy_size(policy: Any) -> int:
    """Characters as IAM counts them: the JSON without white space."""
    return len(json.dumps(policy, separators=(",", ":")))


def managed_policies(name: str, whole: Document) -> dict[str, Document]:
    """`whole` as managed policies that each fit MANAGED_POLICY_CHARACTERS: `name` itself when
    it fits, else `name (managed policy i of n)`, statements kept in order."""
    if policy_size(whole) <= MANAGED_POLICY_CHARACTERS:
        return {name: whole}
    parts: list[list[Statement]] = [[]]
    for statement in (piece for s in whole["Statement"] for piece in _fitting(s)):
        if parts[-1] and policy_size(document([*parts[-1], statement])) > MANAGED_POLICY_CHARACTERS:
            parts.append([])
        parts[-1].append(statement)
    return {
        f"{name} (managed policy {i} of {len(parts)})": document(part)
        for i, part in enumerate(parts, 1)
    }


def _fitting(statement: Statement) -> list[Statement]:
    """The statement, cut along its resources into statements that each fit a policy alone."""
    if policy_size(document([statement])) <= MANAGED_POLICY_CHARACTERS:
        return [statement]
    resources = statement["Resource"]
    if not isinstance(resources, list) or len(resources) < 2:
        raise ValueError(f"statement {statement.get('Sid')} alone exceeds a managed policy")
    half = len(resources) // 2
    sid = statement.get("Sid", "")
    return [
        *_fitting({**statement, "Sid": f"{sid}A", "Resource": resources[:half]}),
        *_fitting({**statement, "Sid": f"{sid}B", "Resource": resources[half:]}),
    ]
