"""Run lifecycle messages: owed by a transition (recorded in the run log with it), rendered
from the ledger once, validated against the shipped JSON Schema, published to the FIFO topic in
the run's sequence order, then marked published.

A crash between publishing and marking republishes the very same body under the same
`message_id`, which the FIFO topic drops within its deduplication window (ARCHITECTURE §7);
consumers can dedupe on `message_id` beyond it.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from ngs_lake.aws.clients import AwsClients
from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.config.names import LakeNames
from ngs_lake.platforms import family_of
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import (
    OutboxEntry,
    Run,
    RunEventType,
    RunState,
    message_id,
    sns_deduplication_id,
    sns_group_id,
    utc_iso,
)
from ngs_lake.runs.retries import PUBLISH_DEADLINE
from ngs_lake.runs.run_facts import folder_facts, read_facts, stored_facts
from ngs_lake.runs.sample_manifest import SampleManifests, sample_sheet_summary

log = logging.getLogger(__name__)

SCHEMA_ID = "ngs-lake/run-event/v1"
__all__ = ["RunAnnouncer", "message_id", "validate_message"]


class OccurredAt(BaseModel):
    utc: str
    local: str
    timezone: str


class RunBlock(BaseModel):
    run_key: str
    run_id: str
    sequencer_id: str
    platform: str
    site: str
    lab: str
    bucket: str
    prefix: str
    s3_uri: str
    flowcell: str | None = None
    metadata: dict[str, Any] = {}
    facts: dict[str, str] = {}  # run id, flowcell, instrument, date, geometry (runs/run_facts.py)


class UploadBlock(BaseModel):
    files: int
    bytes: int
    first_upload_at: str | None = None
    last_upload_at: str | None = None
    marker_seen_at: str | None = None
    confirmed_at: str | None = None


class RunEventMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schema_id: str = Field(default=SCHEMA_ID, alias="schema")
    message_id: str
    event_type: RunEventType
    sequence: int
    occurred_at: OccurredAt
    run: RunBlock
    upload: UploadBlock
    details: dict[str, Any] = {}
    samples: dict[str, Any] | None = None  # issue #31: the sheet's counts and manifest key

    def body(self) -> str:
        return self.model_dump_json(by_alias=True)


@cache
def run_event_schema() -> dict[str, Any]:
    text = resources.files("ngs_lake").joinpath("schemas/run-event-v1.json").read_text()
    return json.loads(text)


def validate_message(body: str) -> None:
    """Raise jsonschema.ValidationError unless the body matches the shipped schema."""
    jsonschema.validate(json.loads(body), run_event_schema())


def occurred_at(moment: datetime, timezone: str) -> OccurredAt:
    moment = moment.astimezone(UTC)
    local = moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return OccurredAt(
        utc=moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        local=local.isoformat(timespec="seconds"),
        timezone=timezone,
    )


@dataclass(frozen=True)
class RunContext:
    tags: dict[str, str]
    files: int
    bytes: int
    uploads: list[datetime]
    metadata: dict[str, Any]
    facts: dict[str, str]


@dataclass(frozen=True)
class Announced:
    message_id: str
    sequence: int
    published_now: bool


def operator_steps(run: Run) -> int:
    """How many times an operator has stepped in on the run (each NEEDS_ATTENTION ends with an
    operator's step): a step starts a message's sends afresh, nothing else does."""
    return run.attention_count - (1 if run.state == RunState.NEEDS_ATTENTION else 0)


class SendWindowPassed(Exception):
    """The message's first send is older than SNS's deduplication window allows a resend."""

    def __init__(self, message_id: str, sequence: int, first_sent: datetime) -> None:
        super().__init__(
            f"{message_id} was first sent at {utc_iso(first_sent)}, and its outcome is not "
            "recorded: SNS deduplicates a resend only within 5 minutes, so the lake does not "
            "resend it on its own"
        )
        self.sequence, self.first_sent = sequence, first_sent


class RunAnnouncer:
    """Builds, records and publishes one lifecycle message for one run."""

    def __init__(
        self,
        clients: AwsClients,
        names: LakeNames,
        ledger: RunLedger,
        catalog_bucket: str | None = None,
    ) -> None:
        """`catalog_bucket`: where the per-run sample manifests go (none: messages carry the
        sheet's counts without a manifest)."""
        self.clients = clients
        self.names = names
        self.ledger = ledger
        self.shares = StorageGatewayShares(clients.storagegateway())
        self.manifests = SampleManifests(clients.s3(), catalog_bucket) if catalog_bucket else None

    @property
    def topic_arn(self) -> str:
        return (
            f"arn:aws:sns:{self.clients.target.region}:{self.clients.account_id()}:"
            f"{self.names.run_events_topic}"
        )

    def publish_pending(self, run_key: str) -> list[Announced]:
        """Publish, oldest first, every announcement the run log holds unpublished.

        Whoever gets here first publishes; a second publisher re-sends the same bodies under
        the same ids, which the FIFO topic drops, so each run's messages stay in order.
        """
        run = self.ledger.require_run(run_key)
        done = []
        context: RunContext | None = None  # read once, for the entries that need a body
        last = run.published_sequence
        steps = operator_steps(run)  # a send stamped before the last step is started afresh
        try:
            for entry in self.ledger.log.pending_outbox(run):
                if entry.published_at is None:
                    if entry.body is None:
                        context = context or self.context(run)
                        body = self.build(run, entry, context).body()
                        validate_message(body)
                        entry = self.ledger.log.record_sending(entry, body, steps)
                    elif entry.sending_at is None or entry.sending_epoch != steps:
                        entry = self.ledger.log.restamp_sending(entry, steps)
                    self.check_send_window(entry)
                    assert entry.body is not None  # recorded above, or read back
                    self.publish(run, entry.message_id, entry.body, entry.event_type)
                    self.ledger.log.mark_published(entry)
                    done.append(Announced(entry.message_id, entry.sequence, published_now=True))
                last = entry.sequence
        finally:
            if last > run.published_sequence or (run.owes_messages and not run.unpublished):
                self.ledger.log.advance_published(run_key, last)
        return done

    def check_send_window(self, entry: OutboxEntry) -> None:
        """A message first sent more than PUBLISH_DEADLINE ago is not sent again by the lake:
        SNS FIFO drops a repeated deduplication id only within 5 minutes of the first
        (https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html), and a send whose
        outcome a crash or a lost answer hid may have been delivered. The run needs an operator."""
        sent = entry.sending_at
        if sent is not None and self.ledger.clock.now() - sent > PUBLISH_DEADLINE:
            raise SendWindowPassed(entry.message_id, entry.sequence, sent)

    def context(self, run: Run) -> RunContext:
        """What every message of the run carries: the share's tags, its files, its metadata."""
        files = self.ledger.files(run.run_key)
        return RunContext(
            tags=self.shares.tags(run.share_arn),
            files=len(files),
            bytes=sum(f.size for f in files),
            uploads=sorted(f.uploaded_at for f in files),
            metadata=run.metadata or self.run_metadata(run, {f.path for f in files}),
            facts=folder_facts(run)
            | (stored_facts(run) or read_facts(self.clients, run, {f.path for f in files})),
        )

    def publish(self, run: Run, mid: str, body: str, event_type: RunEventType) -> None:
        attributes = {
            "event_type": event_type.value,
            "platform": run.platform,
            "site": run.site,
            "sequencer_id": run.sequencer_id,
        }
        self.clients.sns().publish(
            TopicArn=self.topic_arn,
            Message=body,
            MessageGroupId=sns_group_id(run.run_key),
            MessageDeduplicationId=sns_deduplication_id(mid),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )

    def build(self, run: Run, entry: OutboxEntry, context: RunContext) -> RunEventMessage:
        tags, metadata, uploads = context.tags, context.metadata, context.uploads
        prefix = f"{run.run_folder}/"
        return RunEventMessage(
            message_id=entry.message_id,
            event_type=entry.event_type,
            sequence=entry.sequence,
            occurred_at=occurred_at(entry.recorded_at, run.timezone or "UTC"),
            run=RunBlock(
                run_key=run.run_key,
                run_id=str(
                    metadata.get("run_id")
                    or context.facts.get("run_id")
                    or run.run_folder.rsplit("/", 1)[-1]
                ),
                sequencer_id=tags.get("sequencer", run.sequencer_id),
                platform=tags.get("platform", run.platform),
                site=tags.get("site", run.site),
                lab=tags.get("lab", run.lab),
                bucket=run.bucket,
                prefix=prefix,
                s3_uri=f"s3://{run.bucket}/{prefix}",
                flowcell=metadata.get("flowcell") or context.facts.get("flowcell"),
                metadata=metadata,
                facts=context.facts,
            ),
            upload=UploadBlock(
                files=context.files,
                bytes=context.bytes,
                first_upload_at=utc_iso(uploads[0]) if uploads else None,
                last_upload_at=utc_iso(uploads[-1]) if uploads else None,
                marker_seen_at=run.step_iso("MARKER_SEEN"),
                confirmed_at=run.step_iso("UPLOAD_CONFIRMED"),
            ),
            details=entry.details,
            samples=self._samples(run, entry, context.facts),
        )

    def _samples(self, run: Run, entry: OutboxEntry, facts: dict[str, str]) -> dict | None:
        if self.manifests is None:
            return sample_sheet_summary(run, entry)
        return self.manifests.block(run, entry, facts)

    def run_metadata(self, run: Run, present: set[str]) -> dict[str, Any]:
        """The run's instrument metadata, read from S3 until verification has stored it."""
        family = family_of(run.platform)
        patterns = family.metadata_paths(run.platform, run.run_folder)
        wanted = [p for p in present if any(fnmatch.fnmatch(p, pattern) for pattern in patterns)]
        contents = {}
        s3 = self.clients.s3()
        for path in wanted:
            key = f"{run.run_folder}/{path}"
            try:
                contents[path] = s3.get_object(Bucket=run.bucket, Key=key)["Body"].read()
            except ClientError as exc:  # recorded but not readable: announce without it
                log.warning("cannot read s3://%s/%s: %s", run.bucket, key, exc)
        try:
            return family.parse_metadata(run.platform, contents)
        except ValueError as exc:  # unreadable instrument files do not stop the announcement
            log.warning("metadata of %s unreadable: %s", run.run_key, exc)
            return {"metadata_error": str(exc)}
