"""One day's fixity audit across the lake: per sequencer bucket, the runs' fixity records are
audited (`audit.py`), each run's evidence is written to the Object Lock bucket, the day's rows go
to the catalogue's `fixity` table, and the open mismatches are updated for the alert.

`recompute: batch_operations` recomputes the day's sample with one S3 Batch Operations
compute-checksum job per bucket and algorithm, waited on for at most `wait_seconds`
(`batch_jobs.py`); `streaming` reads the versions back here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.fixity.audit import AuditEntry, Recompute, audit_records
from ngs_lake.fixity.batch_jobs import (
    DONE,
    ChecksumTask,
    create_checksum_job,
    job_status,
    read_completion_report,
)
from ngs_lake.fixity.evidence import EvidenceStore, OpenMismatches, write_fixity_table
from ngs_lake.fixity.recompute import NotRecomputable
from ngs_lake.fixity.rotation import sample_for
from ngs_lake.runs.fixity_record import RECORD_PREFIX, FixityRecord


@dataclass
class AuditSummary:
    day: date
    entries: list[AuditEntry] = field(default_factory=list)
    deferred_bytes: int = 0
    evidence: list[str] = field(default_factory=list)
    open_mismatches: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def failures(self) -> list[AuditEntry]:
        return [e for e in self.entries if e.failed]


def records_of(s3: Any, catalog_bucket: str, sequencer_id: str) -> list[FixityRecord]:
    """Every completed run's fixity record for one sequencer (its bucket)."""
    prefix = f"{RECORD_PREFIX}{sequencer_id}/"
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=catalog_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=catalog_bucket, Key=item["Key"])["Body"].read()
            records.append(FixityRecord.model_validate(json.loads(body)))
    return records


def batch_recompute(
    clients: AwsClients,
    config: LakeConfig,
    bucket: str,
    records: list[FixityRecord],
    day: date,
    wait_seconds: float,
) -> Recompute:
    """One compute-checksum job per (algorithm, type) over the day's sample of `bucket`, read
    back into a lookup; a version the report lacks is NotRecomputable (named, never a pass)."""
    names = LakeNames.of(config)
    s3, control = clients.s3(), clients.client("s3control")
    account = clients.sts().get_caller_identity()["Account"]
    items = [(o.key, o.size, o) for r in records for o in r.objects if o.has_checksum]
    # A manifest's tasks all name a version or none (batch_jobs.manifest_fields): one job each.
    groups: dict[tuple[str, str, bool], list[ChecksumTask]] = {}
    for o in sample_for(day, bucket, items, config.fixity).chosen:
        groups.setdefault((o.algorithm, o.checksum_type, bool(o.version_id)), []).append(
            ChecksumTask(bucket, o.key, o.version_id)
        )
    found: dict[tuple[str, str | None, str, str], str] = {}
    unfinished: dict[tuple[str, str], str] = {}
    for (algorithm, kind, versioned), tasks in groups.items():
        token = f"{'' if versioned else 'latest-'}{bucket}-{day.isoformat()}-{algorithm}-{kind}"
        token = token[:64]
        job = create_checksum_job(
            control,
            s3,
            account,
            names.fixity_batch_role_arn(account),
            names.fixity_evidence_bucket,
            "batch",
            tasks,
            algorithm,
            kind,
            token,
        )
        deadline = time.monotonic() + wait_seconds
        status, reasons = job_status(control, account, job)
        while status not in DONE and time.monotonic() < deadline:
            time.sleep(min(30.0, max(1.0, wait_seconds / 20)))
            status, reasons = job_status(control, account, job)
        if status != "Complete":  # its tasks are NotRecomputable, naming the job
            unfinished[(algorithm, kind)] = f"Batch job {job} {status} {'; '.join(reasons)}"
            continue
        for row in read_completion_report(s3, names.fixity_evidence_bucket, "batch", job):
            if row.succeeded and row.checksum_base64:
                found[(row.key, row.version_id, algorithm, kind)] = row.checksum_base64

    def lookup(_bucket: str, key: str, version: str | None, algorithm: str, kind: str) -> str:
        value = found.get((key, version, algorithm, kind))
        if value is None:
            why = unfinished.get((algorithm, kind), "no result in the day's Batch job report")
            raise NotRecomputable(f"{key} {version}: {why}")
        return value

    return lookup


def audit_lake(
    clients: AwsClients,
    config: LakeConfig,
    day: date,
    now: datetime,
    wait_seconds: float = 3600,
) -> AuditSummary:
    names = LakeNames.of(config)
    s3 = clients.s3()
    catalog = config.lake.catalog_bucket
    evidence = EvidenceStore(s3, names.fixity_evidence_bucket)
    summary = AuditSummary(day)
    by = "ngs-lake fixity audit (" + config.fixity.recompute.replace("_", " ") + ")"
    for sequencer in config.sequencers:
        bucket = names.bucket(sequencer.id)
        records = records_of(s3, catalog, sequencer.id)
        if not records:
            continue
        recompute = None
        if config.fixity.recompute == "batch_operations":
            recompute = batch_recompute(clients, config, bucket, records, day, wait_seconds)
        entries, deferred = audit_records(s3, records, day, config.fixity, now, recompute, by)
        summary.entries += entries
        summary.deferred_bytes += deferred
        for record in records:
            if not evidence.has_verification(record.run_key):
                evidence.write_verification(record)
            mine = [e for e in entries if e.run_key == record.run_key]
            if mine:
                summary.evidence.append(evidence.write_audit(record.run_key, now, mine))
        if entries:
            write_fixity_table(s3, catalog, day, bucket, entries)
    summary.open_mismatches = OpenMismatches(s3, catalog).update(summary.entries)
    return summary
