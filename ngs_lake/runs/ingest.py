"""Draining the gateway-events queue into the run ledger: receive, parse, classify, write, delete.

A message is deleted only after its effect is durable (ledger rows written, or the message parked
in the DLQ with its reason), so a crash at any point leads to redelivery, and redelivery
overwrites itself. Work is flushed every `flush_every` messages, runs' last activity with it
(where it moved forward), before the deletes. Nothing here knows Dagster: the sensor wraps
`GatewayEventIngest.drain`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import EventShard, LakeNames
from ngs_lake.runs.classification import ObjectKind, ShareEntry, classify_upload_event
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.events import (
    EventRejected,
    ObjectUpload,
    RefreshComplete,
    UploadNotification,
    parse_gateway_message,
)
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import EventRecord, NewRun, Run, RunFile, RunState
from ngs_lake.runs.run_facts import RunFactsRecorder
from ngs_lake.runs.sample_sheets import SampleSheetRecorder
from ngs_lake.runs.unrecognised import StrayObject
from ngs_lake.runs.unrecognised_ledger import UnrecognisedFolders
from ngs_lake.runs.watermarks import GatewayWatermarks, QueueDrains

log = logging.getLogger(__name__)
_DESERIALIZE = TypeDeserializer().deserialize


@dataclass(frozen=True)
class IngestSettings:
    budget_seconds: float = 25.0  # well under Dagster's 60 s sensor timeout
    max_messages: int = 5000
    # 50 messages make 100 ledger items, four full BatchWriteItem calls; more only keeps more
    # messages in flight, and SQS (moto's above all) receives slower the more it holds.
    flush_every: int = 50
    wait_seconds: int = 1


@dataclass(frozen=True)
class MarkerSeen:
    run_key: str
    share_arn: str
    key: str
    event_id: str
    at: datetime


@dataclass
class TickReport:
    received: int = 0
    recorded: int = 0
    rejected: int = 0
    new_runs: list[str] = field(default_factory=list)
    markers: list[MarkerSeen] = field(default_factory=list)
    notifications: list[UploadNotification] = field(default_factory=list)
    ledger_write_calls: int = 0
    newest_by_gateway: dict[str, datetime] = field(default_factory=dict)  # event time
    # The drain ended on an empty receive, not on its budget, its message cap or a lifecycle
    # step, and no message a dead tick received can still be hidden: every event the queue
    # held has been taken in, so silence can be judged.
    drained: bool = False
    marker_seen: list[str] = field(default_factory=list)  # runs moved to MARKER_SEEN
    confirmed: list[str] = field(default_factory=list)  # runs moved to UPLOAD_CONFIRMED
    facts_recorded: list[str] = field(default_factory=list)  # runs whose facts were stored
    sheets_recorded: list[str] = field(default_factory=list)  # runs with a new sheet version


class RunProgressHandler(Protocol):
    """Lifecycle steps triggered by markers and upload notifications (see lifecycle.py)."""

    def on_markers(self, markers: list[MarkerSeen]) -> list[str]: ...

    def on_notifications(self, notifications: list[UploadNotification]) -> list[str]: ...

    def on_activity(
        self, runs: list[Run], late: dict[str, list[str]], newest: dict[str, datetime]
    ) -> None: ...


class ShareCatalogue:
    """The `shares` table, read once per tick and again when an unknown share shows up."""

    def __init__(self, clients: AwsClients, names: LakeNames) -> None:
        self.ddb = clients.dynamodb()
        self.table = names.shares_table
        self.by_arn: dict[str, ShareEntry] = {}
        self._loaded = False

    def load(self) -> None:
        entries = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table):
            for raw in page["Items"]:
                item = {k: _DESERIALIZE(v) for k, v in raw.items()}
                entries[item["share_arn"]] = ShareEntry(
                    sequencer_id=item["sequencer_id"],
                    share_arn=item["share_arn"],
                    bucket=item["bucket"],
                    platform=item["platform"],
                    site=item["site"],
                    lab=item.get("lab", ""),
                    timezone=item.get("timezone", "UTC"),
                    gateway_id=item.get("gateway_id", ""),
                )
        self.by_arn = entries
        self._loaded = True

    def share(self, share_arn: str) -> ShareEntry | None:
        if not self._loaded or share_arn not in self.by_arn:
            self.load()  # a share provisioned since the last read
        return self.by_arn.get(share_arn)


@dataclass
class _Pending:
    handles: list[dict[str, str]] = field(default_factory=list)
    files: list[RunFile] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    runs: dict[str, NewRun] = field(default_factory=dict)
    parked: list[dict[str, Any]] = field(default_factory=list)  # DLQ entries
    markers: list[MarkerSeen] = field(default_factory=list)
    notifications: list[UploadNotification] = field(default_factory=list)
    strays: list[StrayObject] = field(default_factory=list)  # objects in no run folder
    activity: dict[str, datetime] = field(default_factory=dict)  # newest event time per run

    def __len__(self) -> int:
        return len(self.handles)


class GatewayEventIngest:
    def __init__(
        self,
        clients: AwsClients,
        names: LakeNames,
        ledger: RunLedger,
        settings: IngestSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        progress: RunProgressHandler | None = None,
        shard: EventShard | None = None,
        drains: QueueDrains | None = None,
    ) -> None:
        """`shard`: the queue to drain and its DLQ; the lake-wide queue unless given. `drains`:
        the queue's drain marks; without them a drain is judged by its last receive alone."""
        shard = shard or names.lake_wide_events()
        self.sqs = clients.sqs()
        self.names = names
        self.ledger = ledger
        self.settings = settings or IngestSettings()
        self.clock = clock
        self.progress = progress
        self.catalogue = ShareCatalogue(clients, names)
        self.watermarks = GatewayWatermarks(clients, names)
        self.facts = RunFactsRecorder(clients, names)  # issue #34: facts from the first read
        self.sheets = SampleSheetRecorder(clients.s3(), ledger)  # issue #31: sheet versions
        self.unrecognised = UnrecognisedFolders(clients, names)
        self.drains = drains
        self.queue_url = self.sqs.get_queue_url(QueueName=shard.queue)["QueueUrl"]
        self.dlq_url = self.sqs.get_queue_url(QueueName=shard.dead_letter_queue)["QueueUrl"]

    def drain(self) -> TickReport:
        """One tick: drain within the time budget and message cap, flushing as it goes."""
        report = TickReport()
        self._watermarks_written: dict[str, datetime] = {}
        if self.drains is not None:
            self.drains.open()
        deadline = self.clock.monotonic() + self.settings.budget_seconds
        pending = _Pending()
        while self.clock.monotonic() < deadline and report.received < self.settings.max_messages:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=self.settings.wait_seconds,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                report.drained = True
                break
            report.received += len(messages)
            for message in messages:
                self._take(message, pending, report)
            # Markers and upload notifications are acted on at once; files wait for a full batch.
            urgent = pending.markers or pending.notifications
            if len(pending) >= self.settings.flush_every or urgent:
                self._flush(pending, report)
                pending = _Pending()
                if self._lifecycle_moved(report):
                    break  # hand the new run or step to Dagster now; the backlog can wait 5 s
        if pending:
            self._flush(pending, report)
        if self.drains is not None:
            report.drained = report.drained and self.drains.settled()
            self.drains.close(report.drained)
        return report

    def _advance_watermarks(self, report: TickReport) -> None:
        """Before a flush's deletes, each gateway whose newest event moved since this tick last
        wrote it: an event deleted before its gateway's watermark (and `received_at`) is
        recorded would be lost to the stall judgement and the silence alert if the tick died
        between the two (found by the simulation: a run left in STARTED, never alerted). At
        most one UpdateItem per gateway per flush; a lagging watermark only stalls less."""
        moved = {
            gateway: newest
            for gateway, newest in report.newest_by_gateway.items()
            if self._watermarks_written.get(gateway) != newest
        }
        if moved:
            self.watermarks.advance(moved, self.clock.now())
            self._watermarks_written.update(moved)
            report.ledger_write_calls += len(moved)

    @staticmethod
    def _lifecycle_moved(report: TickReport) -> bool:
        return bool(report.new_runs or report.marker_seen or report.confirmed)

    def _take(self, message: dict[str, Any], pending: _Pending, report: TickReport) -> None:
        pending.handles.append(
            {"Id": str(len(pending.handles)), "ReceiptHandle": message["ReceiptHandle"]}
        )
        now = self.clock.now()
        body = message.get("Body", "")
        try:
            event = parse_gateway_message(body)
            self._record(event, pending, report, now)
        except EventRejected as rejection:
            event_id = _event_id(body) or message["MessageId"]
            report.rejected += 1
            log.warning("rejected message %s: %s", message["MessageId"], rejection.reason)
            pending.parked.append(
                {
                    "Id": str(len(pending.parked)),
                    "MessageBody": body or "(empty)",
                    "MessageAttributes": {
                        "reason": {"DataType": "String", "StringValue": rejection.reason[:1000]},
                        "source_message_id": {
                            "DataType": "String",
                            "StringValue": message["MessageId"],
                        },
                        "rejected_at": {"DataType": "String", "StringValue": now.isoformat()},
                    },
                }
            )
            pending.events.append(EventRecord(event_id, "rejected", now, reason=rejection.reason))

    def _record(self, event: Any, pending: _Pending, report: TickReport, now: datetime) -> None:
        if isinstance(event, UploadNotification):
            report.notifications.append(event)
            pending.notifications.append(event)
            pending.events.append(
                EventRecord(event.event_id, "notification", now, share_arn=event.share_arn)
            )
            return
        if isinstance(event, RefreshComplete):
            pending.events.append(
                EventRecord(event.event_id, "refresh", now, share_arn=event.share_arn)
            )
            return
        if not isinstance(event, ObjectUpload):
            raise EventRejected(f"unhandled event type {type(event).__name__}")
        share = self.catalogue.share(event.share_arn)
        if share is None:
            raise EventRejected(f"unknown share {event.share_arn}: not in the shares catalogue")
        if share.bucket != event.bucket:
            raise EventRejected(
                f"bucket {event.bucket!r} is not the bucket of share {event.share_arn} "
                f"({share.bucket!r})"
            )
        self._heard_from(event.share_arn, event.time, report)
        classified = classify_upload_event(event, share)
        pending.events.append(
            EventRecord(
                event.event_id,
                classified.kind.value,
                now,
                run_key=classified.run_key,
                key=event.key,
                share_arn=event.share_arn,
            )
        )
        report.recorded += 1
        if classified.run_key is None:
            pending.strays.append(
                StrayObject(share.sequencer_id, share.platform, event.key, event.time)
            )
            return
        run_key = classified.run_key
        if run_key not in pending.runs:
            pending.runs[run_key] = NewRun(
                run_key=run_key,
                run_folder=classified.run_folder or "",
                sequencer_id=share.sequencer_id,
                platform=share.platform,
                site=share.site,
                lab=share.lab,
                timezone=share.timezone,
                bucket=share.bucket,
                share_arn=share.share_arn,
                started_at=event.time,
                gateway_id=share.gateway_id,
            )
        elif event.time < pending.runs[run_key].started_at:
            run = pending.runs[run_key]
            pending.runs[run_key] = NewRun(**{**run.__dict__, "started_at": event.time})
        previous = pending.activity.get(run_key)
        pending.activity[run_key] = max(previous, event.time) if previous else event.time
        if classified.kind == ObjectKind.DIRECTORY:
            return
        pending.files.append(
            RunFile(
                run_key,
                classified.relative_path,
                event.size,
                event.modified_at,
                event.event_id,
                event.time,
            )
        )
        if classified.kind == ObjectKind.MARKER:
            marker = MarkerSeen(
                run_key, event.share_arn, classified.relative_path, event.event_id, event.time
            )
            report.markers.append(marker)
            pending.markers.append(marker)

    def _heard_from(self, share_arn: str, event_time: datetime, report: TickReport) -> None:
        """The newest upload-event time from each gateway: its watermark (runs/watermarks.py).
        Only uploads count: they are the instruments' writes; a notification answers the lake."""
        share = self.catalogue.share(share_arn)
        if share is None or not share.gateway_id:
            return
        newest = report.newest_by_gateway.get(share.gateway_id)
        if newest is None or event_time > newest:
            report.newest_by_gateway[share.gateway_id] = event_time

    def _flush(self, pending: _Pending, report: TickReport) -> None:
        """Make the pending effects durable, then (only then) delete their messages."""
        known: dict[str, Run] = {}
        recorded: dict[str, datetime] = {}  # each run's last activity in the ledger
        if pending.runs:
            known = self.ledger.get_runs(pending.runs)
            recorded = {key: run.last_activity_at for key, run in known.items()}
            for run_key, run in pending.runs.items():
                if run_key not in known and self.ledger.start_run(run):
                    report.new_runs.append(run_key)
                    report.ledger_write_calls += 1
                    recorded[run_key] = run.started_at
        for start in range(0, len(pending.parked), 10):
            batch = [
                {**entry, "Id": str(index)}
                for index, entry in enumerate(pending.parked[start : start + 10])
            ]
            answer = self.sqs.send_message_batch(QueueUrl=self.dlq_url, Entries=batch)
            if answer.get("Failed"):  # keep the originals: they are redelivered and parked again
                raise RuntimeError(
                    f"could not park rejected messages in the DLQ: {answer['Failed']}"
                )
        files, late = self._new_to_ledger(pending.files, known)
        report.ledger_write_calls += self.ledger.write_batch(files, pending.events)
        report.facts_recorded += self.facts.record(files, pending.runs, known)
        platforms = {key: run.platform for key, run in pending.runs.items()}
        report.sheets_recorded += self.sheets.record(files, platforms)
        report.ledger_write_calls += self.unrecognised.record(pending.strays)
        # Last activity, before the deletes (a run whose activity was lost could be stalled),
        # and only where it moves forward: one UpdateItem per run per flush at most.
        moved = {
            key: moment
            for key, moment in pending.activity.items()
            if key not in recorded or moment > recorded[key]
        }
        report.ledger_write_calls += self.ledger.touch(moved)
        if self.progress is not None:  # lifecycle steps, still before the deletes
            self.progress.on_activity(list(known.values()), late, pending.activity)
            report.marker_seen += self.progress.on_markers(pending.markers)
            report.confirmed += self.progress.on_notifications(pending.notifications)
        self._advance_watermarks(report)
        for start in range(0, len(pending.handles), 10):
            answer = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url, Entries=pending.handles[start : start + 10]
            )
            if answer.get("Failed"):  # they come back; their effects overwrite themselves
                log.warning(
                    "%d deletes failed; those messages will be redelivered", len(answer["Failed"])
                )

    def _new_to_ledger(
        self, files: list[RunFile], known: dict[str, Run]
    ) -> tuple[list[RunFile], dict[str, list[str]]]:
        """The files to write, and the late ones: for a COMPLETED run, only a path the ledger
        does not hold, or holds in an older version, is late (and written); a redelivered or
        replayed event is neither. Read consistently (one BatchGetItem per 100 paths), for
        completed runs only, so ingest of running runs reads nothing more."""
        completed = {key for key, run in known.items() if run.state == RunState.COMPLETED}
        candidates = [f for f in files if f.run_key in completed]
        if not candidates:
            return files, {}
        held = self.ledger.file_rows((f.run_key, f.path) for f in candidates)
        newer = [
            f
            for f in candidates
            if (row := held.get((f.run_key, f.path))) is None or f.version > row.version
        ]
        late: dict[str, list[str]] = {}
        for f in newer:
            late.setdefault(f.run_key, []).append(f.path)
        return [f for f in files if f.run_key not in completed] + newer, late


def _event_id(body: str) -> str | None:
    """The envelope id of a body that fails validation but is JSON, for the events table."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else None
