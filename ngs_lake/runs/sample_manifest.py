"""The per-run sample manifest (issue #31): the samples of the sheet version in force, as JSON in
the catalogue bucket, written when `run.completed` (and each `run.samplesheet_changed`) is first
rendered, and named in that message by its key. Messages never carry samples inline: an SNS
message is at most 256 KB (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html) and a
NovaSeq X sheet can hold 3,072 samples.

The samples are read again from the sheet's own S3 version (GetObject by VersionId), and its
SHA-256 is checked against the digest recorded when it landed: bytes that do not match are not
trusted, and the manifest then says why it has no samples, as it does for a sheet that is
unreadable or invalid. `ngs-lake catalog query` reads these manifests at once; S3 Inventory,
which the daily catalogue is built from, can lag by up to 48 hours
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ngs_lake.platforms.sample_sheet_readers import read_sample_sheet
from ngs_lake.runs.dynamo_items import plain
from ngs_lake.runs.model import OutboxEntry, Run, RunEventType

MANIFEST_PREFIX = "samples/"
MANIFEST_SCHEMA = "ngs-lake/sample-manifest/v1"
_BLOCK_FIELDS = (
    "status",
    "reason",
    "sample_count",
    "projects",
    "projects_total",
    "format",
    "path",
    "version_id",
    "digest",
    "landed_at",
    "pinned",
)


def manifest_key(run_key: str, digest: str) -> str:
    """One object per run and sheet digest: written again, it is the same bytes."""
    return f"{MANIFEST_PREFIX}{run_key}/{digest}.json"


def sheet_for(run: Run, entry: OutboxEntry) -> dict[str, Any] | None:
    """The sheet summary a message speaks of: the one a later version or pin brought, the one
    in force at completion, or (for run.started) the one there now, if any."""
    if entry.event_type == RunEventType.SAMPLESHEET_CHANGED:
        summary = entry.details.get("samplesheet")
    elif entry.event_type == RunEventType.COMPLETED:
        summary = run.samplesheet_at_completion
    elif entry.event_type == RunEventType.STARTED:
        summary = run.samplesheet
    else:
        return None
    return plain(summary) if summary else None


def sample_sheet_summary(run: Run, entry: OutboxEntry) -> dict[str, Any] | None:
    """The `samples` block without a manifest (no catalogue bucket given)."""
    summary = sheet_for(run, entry)
    if summary is None:
        return None
    block: dict[str, Any] = {k: summary[k] for k in _BLOCK_FIELDS if k in summary}
    return {"sample_count": 0, "projects": [], **block}


class SampleManifests:
    """Writes the manifests into the catalogue bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def block(self, run: Run, entry: OutboxEntry, facts: dict[str, str]) -> dict[str, Any] | None:
        """The message's `samples` block; for run.completed and run.samplesheet_changed the
        manifest is written first and named."""
        block = sample_sheet_summary(run, entry)
        summary = sheet_for(run, entry)
        if block is None or summary is None:
            return None
        if entry.event_type != RunEventType.STARTED:
            block["manifest_key"] = self.write(run, summary, entry, facts)
            block["manifest_bucket"] = self.bucket
        return block

    def write(
        self, run: Run, summary: dict[str, Any], entry: OutboxEntry, facts: dict[str, str]
    ) -> str:
        samples, withheld = self._samples(run, summary)
        completion = plain(run.completion or {})
        body = {
            "schema": MANIFEST_SCHEMA,
            "run_key": run.run_key,
            "message_id": entry.message_id,
            "sequence": entry.sequence,
            "run": {
                "sequencer_id": run.sequencer_id,
                "platform": run.platform,
                "site": run.site,
                "bucket": run.bucket,
                "prefix": f"{run.run_folder}/",
                "flowcell": facts.get("flowcell") or run.flowcell,
                "instrument": facts.get("instrument"),
                "run_date": facts.get("run_date"),
                "bytes": completion.get("bytes"),
                "objects": completion.get("files"),
            },
            "samplesheet": summary,
            "no_samples": withheld,
            "samples": samples,
        }
        # A sheet S3 refused at completion has no digest (runs/sample_sheets.py unread_summary).
        key = manifest_key(run.run_key, str(summary.get("digest") or "unread"))
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(body, sort_keys=True).encode(),
            ContentType="application/json",
        )
        return key

    def _samples(self, run: Run, summary: dict[str, Any]) -> tuple[list[dict], str | None]:
        status = summary.get("status")
        if status != "ok":
            return [], f"samplesheet: {status}: {summary.get('reason')}"
        key = f"{run.run_folder}/{summary['path']}"
        version = str(summary["version_id"])
        extra = {"VersionId": version} if version != "null" else {}
        data = self.s3.get_object(Bucket=run.bucket, Key=key, **extra)["Body"].read()
        if hashlib.sha256(data).hexdigest() != summary["digest"]:
            return [], (
                f"samplesheet: the bytes of s3://{run.bucket}/{key} version {version} do not "
                "match the digest recorded when it landed"
            )
        sheet = read_sample_sheet(run.platform, summary["path"], data, run.facts.get("geometry"))
        return [s.model_dump() for s in sheet.samples], None
