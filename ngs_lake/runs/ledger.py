"""RunLedger: the lake's record of runs, their files and every processed event, on DynamoDB.

Idempotent by overwrite, counts derived (ARCHITECTURE §5): per-file effects are plain puts keyed
by what they describe, written in BatchWriteItem calls, so a redelivered event overwrites itself
and file counts come from a Query, never from a counter. Conditional writes are kept for the few
lifecycle transitions, each guarded by the run's state and an optimistic-locking version.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.model import RunState

_SERIALIZE = TypeSerializer().serialize
_DESERIALIZE = TypeDeserializer().deserialize
BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
BATCH_GET_KEYS = 100


def utc_iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dynamo_safe(value: Any) -> Any:
    """DynamoDB numbers are decimals: floats go in as their exact decimal text."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _dynamo_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_dynamo_safe(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZE(_dynamo_safe(v)) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZE(v) for k, v in item.items()}


def _version(f: RunFile) -> tuple[datetime, datetime]:
    """Which of two events for one path is newer: its modification, then its upload."""
    return (f.modified_at, f.uploaded_at)


class TransitionConflict(Exception):
    """The run was not in the expected state (or version): someone else moved it first."""


@dataclass(frozen=True)
class RunFile:
    run_key: str
    path: str
    size: int
    modified_at: datetime
    event_id: str
    uploaded_at: datetime


@dataclass(frozen=True)
class EventRecord:
    event_id: str
    kind: str  # file, marker, directory, stray, notification, refresh, rejected
    received_at: datetime
    run_key: str | None = None
    key: str | None = None
    share_arn: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class NewRun:
    run_key: str
    run_folder: str
    sequencer_id: str
    platform: str
    site: str
    lab: str
    timezone: str
    bucket: str
    share_arn: str
    started_at: datetime


class RunLedger:
    def __init__(
        self, clients: AwsClients, names: LakeNames, events_ttl_days: int | None = None
    ) -> None:
        self.ddb = clients.dynamodb()
        self.names = names
        self.events_ttl_days = events_ttl_days

    # Per-file and per-event effects: plain puts, batched

    def write_batch(self, files: Sequence[RunFile], events: Sequence[EventRecord]) -> int:
        """Put run files and event records; returns the number of BatchWriteItem calls made."""
        requests: list[tuple[str, dict[str, Any]]] = []
        latest: dict[tuple[str, str], RunFile] = {}
        for f in files:  # within a batch, the latest modification of a path wins
            key = (f.run_key, f.path)
            if key not in latest or _version(f) >= _version(latest[key]):
                latest[key] = f
        # Across batches an older event for a rewritten file (redelivered, replayed or late)
        # may still overwrite a newer row: checking first would cost a read per batch on the
        # hot path. Verification settles it against the object's versions in S3 instead.
        for f in latest.values():
            requests.append(
                (
                    self.names.run_files_table,
                    to_item(
                        {
                            "run_key": f.run_key,
                            "path": f.path,
                            "size": f.size,
                            "modified_at": utc_iso(f.modified_at),
                            "event_id": f.event_id,
                            "uploaded_at": utc_iso(f.uploaded_at),
                        }
                    ),
                )
            )
        expires = int(time.time()) + self.events_ttl_days * 86400 if self.events_ttl_days else None
        seen_events: set[str] = set()
        for e in events:
            if e.event_id in seen_events:
                continue
            seen_events.add(e.event_id)
            requests.append(
                (
                    self.names.events_table,
                    to_item(
                        {
                            "event_id": e.event_id,
                            "kind": e.kind,
                            "received_at": utc_iso(e.received_at),
                            "run_key": e.run_key,
                            "key": e.key,
                            "share_arn": e.share_arn,
                            "reason": e.reason,
                            "expires_at": expires,
                        }
                    ),
                )
            )
        calls = 0
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            pending: dict[str, list[dict[str, Any]]] = {}
            for table, item in requests[start : start + BATCH_WRITE_ITEMS]:
                pending.setdefault(table, []).append({"PutRequest": {"Item": item}})
            backoff = 0.05
            while pending:
                calls += 1
                answer = self.ddb.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if pending:
                    time.sleep(backoff)
                    backoff = min(2.0, backoff * 2)
        return calls

    # Runs

    def get_runs(self, run_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(dict.fromkeys(run_keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {
                self.names.runs_table: {
                    "Keys": [{"run_key": {"S": k}} for k in keys[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self.ddb.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.names.runs_table, []):
                    run = from_item(item)
                    found[run["run_key"]] = run
                request = answer.get("UnprocessedKeys") or {}
        return found

    def get_run(self, run_key: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(
            TableName=self.names.runs_table, Key={"run_key": {"S": run_key}}, ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def start_run(self, run: NewRun) -> bool:
        """The first transition: create the run as STARTED, once. False if it already exists."""
        now = utc_iso()
        try:
            self.ddb.put_item(
                TableName=self.names.runs_table,
                Item=to_item(
                    {
                        "run_key": run.run_key,
                        "run_folder": run.run_folder,
                        "state": RunState.STARTED.value,
                        "sequencer_id": run.sequencer_id,
                        "platform": run.platform,
                        "site": run.site,
                        "lab": run.lab,
                        "timezone": run.timezone,
                        "bucket": run.bucket,
                        "share_arn": run.share_arn,
                        "started_at": utc_iso(run.started_at),
                        "last_activity_at": utc_iso(run.started_at),
                        "recorded_at": now,
                        "version": 1,
                        "sequence": 0,
                        "outbox": {},
                        "steps": {"STARTED": utc_iso(run.started_at)},
                    }
                ),
                ConditionExpression="attribute_not_exists(run_key)",
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def touch(self, activity: dict[str, datetime]) -> int:
        """Last activity per run: one UpdateItem per run per tick, unconditional (derived data)."""
        for run_key, moment in activity.items():
            self.ddb.update_item(
                TableName=self.names.runs_table,
                Key={"run_key": {"S": run_key}},
                UpdateExpression="SET last_activity_at = :t",
                ExpressionAttributeValues={":t": {"S": utc_iso(moment)}},
            )
        return len(activity)

    def transition(
        self,
        run_key: str,
        expected: Sequence[RunState],
        new_state: RunState,
        version: int,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """Move a run between lifecycle states; TransitionConflict if it moved meanwhile."""
        names = {"#state": "state", "#steps": "steps", "#new": new_state.value}
        values: dict[str, Any] = {
            ":new": new_state.value,
            ":version": version,
            ":next": version + 1,
            ":at": utc_iso(),
            **{f":expected{i}": s.value for i, s in enumerate(expected)},
        }
        sets = ["#state = :new", "version = :next", "#steps.#new = :at"]
        for index, (name, value) in enumerate((fields or {}).items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        allowed = ", ".join(f":expected{i}" for i in range(len(expected)))
        try:
            self.ddb.update_item(
                TableName=self.names.runs_table,
                Key={"run_key": {"S": run_key}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=f"version = :version AND #state IN ({allowed})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TransitionConflict(
                    f"{run_key}: not in {'/'.join(s.value for s in expected)} at version {version}"
                ) from None
            raise

    # Notifications: recorded before publishing, marked after

    def record_notification(
        self, run_key: str, message_id: str, body: str, sequence: int, version: int
    ) -> None:
        try:
            self.ddb.update_item(
                TableName=self.names.runs_table,
                Key={"run_key": {"S": run_key}},
                UpdateExpression="SET outbox.#mid = :entry, #seq = :seq, version = :next",
                ConditionExpression="version = :version AND attribute_not_exists(outbox.#mid)",
                ExpressionAttributeNames={"#mid": message_id, "#seq": "sequence"},
                ExpressionAttributeValues=to_item(
                    {
                        ":entry": {"body": body, "sequence": sequence, "recorded_at": utc_iso()},
                        ":seq": sequence,
                        ":version": version,
                        ":next": version + 1,
                    }
                ),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TransitionConflict(f"{run_key}: {message_id} already recorded") from None
            raise

    def mark_published(self, run_key: str, message_id: str) -> None:
        self.ddb.update_item(
            TableName=self.names.runs_table,
            Key={"run_key": {"S": run_key}},
            UpdateExpression="SET outbox.#mid.published_at = :at",
            ExpressionAttributeNames={"#mid": message_id},
            ExpressionAttributeValues={":at": {"S": utc_iso()}},
        )

    # Queries

    def files(self, run_key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.names.run_files_table,
            KeyConditionExpression="run_key = :r",
            ExpressionAttributeValues={":r": {"S": run_key}},
            ConsistentRead=True,
        ):
            out += [from_item(i) for i in page["Items"]]
        return out

    def file_count(self, run_key: str) -> int:
        total = 0
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.names.run_files_table,
            KeyConditionExpression="run_key = :r",
            ExpressionAttributeValues={":r": {"S": run_key}},
            Select="COUNT",
            ConsistentRead=True,
        ):
            total += page["Count"]
        return total

    def runs_by(
        self,
        index: str,
        attribute: str,
        value: str,
        range_attribute: str | None = None,
        since: str | None = None,
    ) -> list[dict[str, Any]]:
        condition = "#a = :v"
        names = {"#a": attribute}
        values: dict[str, Any] = {":v": {"S": value}}
        if range_attribute and since:
            condition += " AND #r >= :since"
            names["#r"] = range_attribute
            values[":since"] = {"S": since}
        out: list[dict[str, Any]] = []
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.names.runs_table,
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        ):
            out += [from_item(i) for i in page["Items"]]
        return out

    def runs_in_state(
        self, state: RunState, active_since: str | None = None
    ) -> list[dict[str, Any]]:
        """Runs in a state; with `active_since`, only those active since then (GSI range key)."""
        return self.runs_by("by-state", "state", state.value, "last_activity_at", active_since)

    def runs_of_sequencer(self, sequencer_id: str) -> list[dict[str, Any]]:
        return self.runs_by("by-sequencer", "sequencer_id", sequencer_id)

    def runs_at_site(self, site: str) -> list[dict[str, Any]]:
        return self.runs_by("by-site", "site", site)
