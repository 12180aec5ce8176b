"""Change control for provisioning: a plan has a digest, an apply names the digest a person
reviewed, and each apply is recorded.

The plan's digest covers the document's SHA-256 and every change with its reason, which the
plan reads from the lake itself, so a digest no longer matches once the document or the lake
has moved: what a person reviewed is exactly what is applied. The records are objects under
`lake-config/applies/` in the catalogue bucket, which is versioned, so none is lost by an
overwrite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ngs_lake.config.model import LakeConfig
from ngs_lake.provisioning.iam_arns import LakeArns, Statement, allow, bucket_arn, objects_arn
from ngs_lake.provisioning.plan import Action, Change, Plan

APPLIES_PREFIX = "lake-config/applies/"


class StalePlan(Exception):
    """The approved digest is not the plan's as computed now."""

    def __init__(self, approved: str, current: str) -> None:
        self.approved, self.current = approved, current
        super().__init__(
            f"refused: the approved plan {approved or '(none given)'} is not the plan as it stands "
            f"now, {current}; the document or the lake changed since it was reviewed. Review the "
            "new plan (`ngs-lake provision --plan`, or the latest provisioning_plan "
            "materialization) and approve its digest"
        )


def plan_digest(plan: Plan, config_sha256: str) -> str:
    """SHA-256 of the document's digest and every change (resource, name, action, reason,
    notes) in plan order: what applying does. The identity documents the plan prints are not
    applied, and name the process's compute-log bucket, so the same plan seen from the CLI and
    from the code server would otherwise differ."""
    body = {"config_sha256": config_sha256, "changes": [c.as_dict() for c in plan.changes]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def check_approval(approved: str, current: str) -> None:
    """Raise `StalePlan` unless the approved digest is the current plan's."""
    if approved != current:
        raise StalePlan(approved, current)


def locked_bucket_creations(plan: Plan) -> list[str]:
    """Buckets the plan creates under Object Lock: on AWS, no one can take them back."""
    return sorted(
        {c.name for c in plan.mutations if c.resource == "s3-object-lock"}
        & {c.name for c in plan.changes if c.resource == "s3-bucket" and c.action == Action.CREATE}
    )


def irreversible(change: Change, locked: list[str]) -> bool:
    return change.action in (Action.CREATE, Action.UPDATE) and change.name in locked


def changes_for_review(plan: Plan) -> list[Change]:
    """Every mutating change, the irreversible ones (locked buckets) first."""
    locked = locked_bucket_creations(plan)
    return sorted(plan.mutations, key=lambda c: not irreversible(c, locked))


def review_text(plan: Plan, digest: str, config: LakeConfig) -> str:
    """The plan as a reviewer reads it: counts, every change (irreversible first), the digest."""
    locked = locked_bucket_creations(plan)
    lines = [", ".join(f"{n} {a}" for a, n in plan.counts().items())]
    for c in changes_for_review(plan):
        mark = "IRREVERSIBLE " if irreversible(c, locked) else ""
        lines.append(f"- {mark}{c.action.value} {c.resource} {c.name}: {c.reason}")
    if locked:
        lock = config.lake.object_lock
        lines.append(
            f"{len(locked)} bucket(s) under Object Lock {lock.mode}, {lock.retention_days} days: "
            "on AWS the lock cannot be removed"
        )
    lines.append(f"plan digest: {digest}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ApplyRecord:
    plan_digest: str
    config_sha256: str
    applied_at: str  # UTC ISO 8601
    applied_by: str  # the AWS principal (STS) or the Dagster run's user
    via: str  # "ngs-lake provision" or "dagster run <id>"
    changes_applied: int


class ApplyHistory:
    """The apply records in the catalogue bucket, one object each, named by time and digest."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def record(self, entry: ApplyRecord) -> str:
        key = f"{APPLIES_PREFIX}{entry.applied_at}-{entry.plan_digest[:16]}.json"
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(asdict(entry)).encode(),
            ContentType="application/json",
        )
        return key

    def entries(self) -> list[ApplyRecord]:
        """Every record, oldest first (keys begin with the apply's UTC time)."""
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=APPLIES_PREFIX
        ):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                out.append(ApplyRecord(**json.loads(body)))
        return sorted(out, key=lambda r: r.applied_at)


def caller_arn(sts: Any) -> str:
    """Who the credentials are: STS GetCallerIdentity needs no permission
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)."""
    return sts.get_caller_identity()["Arn"]


def utc_stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def document_record_statements(arns: LakeArns, write: bool) -> list[Statement]:
    """document_in_force.py and approvals.py: the objects under `lake-config/` in the catalogue
    bucket. ListBucket lets a missing record read as 404 rather than 403 (GetObject:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax);
    the bucket is SSE-KMS under the lake key."""
    catalog = arns.config.lake.catalog_bucket
    return [
        allow("ListDocumentRecords", ["s3:ListBucket"], bucket_arn(catalog)),
        allow(
            "DocumentRecords",
            ["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"],
            objects_arn(catalog, "lake-config/"),
        ),
        allow(
            "DocumentRecordsKey",
            ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
            arns.key,
            Condition={"StringEquals": {"kms:ViaService": arns.s3_service}},
        ),
    ]
