"""The run log: what grows with a run's life, an item each (ARCHITECTURE §5), so run items stay
bounded. `outbox#<sequence>`: an announcement a transition owes, recorded with it, its body kept
once rendered, then published in sequence order and marked; `amendment#<n>`: a run's late files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.config.names import LakeNames
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.dynamo_items import from_item, plain, to_item
from ngs_lake.runs.model import OutboxEntry, Run, RunEventType, message_id, parse_iso, utc_iso

# The sparse `owing` index: a run carries `owes_messages` exactly while it has recorded
# announcements not yet published (set in the write that records one, removed in the write that
# publishes the last), so the tick finds every owed message, however old its run, by reading a
# few items: a sparse GSI holds only the items that have its key attribute.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-indexes-general-sparse-indexes.html
OWING_INDEX = "owing"
OWES_MESSAGES = "owes_messages"
OWED = "owed"
MAX_AMENDMENT_PATHS = 1000  # an amendment item lists at most this many late paths
OUTBOX = "outbox#"
AMENDMENT = "amendment#"


def entry_key(prefix: str, number: int) -> str:
    """Zero-padded so the run log's sort key orders entries by number."""
    return f"{prefix}{number:08d}"


def outbox_put(
    table: str,
    run_key: str,
    sequence: int,
    event_type: RunEventType,
    occurrence: int,
    details: dict[str, Any],
    recorded_at: str,
) -> dict[str, Any]:
    entry = {
        "run_key": run_key,
        "entry": entry_key(OUTBOX, sequence),
        "message_id": message_id(run_key, event_type, occurrence),
        "event_type": event_type.value,
        "occurrence": occurrence,
        "details": details,
        "recorded_at": recorded_at,
    }
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(entry),
            "ConditionExpression": "attribute_not_exists(run_key)",
        }
    }


def amendment_put(
    table: str, run_key: str, number: int, paths: Sequence[str], recorded_at: str
) -> dict[str, Any]:
    unique = sorted(set(paths))
    entry = {
        "run_key": run_key,
        "entry": entry_key(AMENDMENT, number),
        "late_files": unique[:MAX_AMENDMENT_PATHS],
        "late_file_count": len(unique),
        "recorded_at": recorded_at,
    }
    return {"Put": {"TableName": table, "Item": to_item(entry)}}


class RunLog:
    def __init__(self, ddb: Any, names: LakeNames, clock: Clock = SYSTEM_CLOCK) -> None:
        self.ddb = ddb
        self.clock = clock
        self.table = names.run_log_table
        self.runs_table = names.runs_table

    def pending_outbox(self, run: Run) -> list[OutboxEntry]:
        """The run's recorded, unpublished announcements, oldest first."""
        if not run.unpublished:
            return []
        return self._log_entries(
            run.run_key,
            entry_key(OUTBOX, run.published_sequence + 1),
            entry_key(OUTBOX, run.sequence),
        )

    def outbox(self, run_key: str) -> list[OutboxEntry]:
        return self._log_entries(run_key, entry_key(OUTBOX, 0), entry_key(OUTBOX, 10**8 - 1))

    def _log_entries(self, run_key: str, low: str, high: str) -> list[OutboxEntry]:
        out = []
        for item in self._query_log(run_key, low, high):
            out.append(
                OutboxEntry(
                    run_key=item["run_key"],
                    sequence=int(item["entry"].removeprefix(OUTBOX)),
                    message_id=item["message_id"],
                    event_type=RunEventType(item["event_type"]),
                    occurrence=int(item["occurrence"]),
                    details=plain(item.get("details") or {}),
                    recorded_at=parse_iso(item["recorded_at"]),
                    body=item.get("body"),
                    published_at=parse_iso(item["published_at"])
                    if item.get("published_at")
                    else None,
                    sending_at=parse_iso(item["sending_at"]) if item.get("sending_at") else None,
                    sending_epoch=int(item["sending_epoch"]) if "sending_epoch" in item else None,
                )
            )
        return out

    def _query_log(self, run_key: str, low: str, high: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="run_key = :r AND #e BETWEEN :low AND :high",
            ExpressionAttributeNames={"#e": "entry"},
            ExpressionAttributeValues={
                ":r": {"S": run_key},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            ConsistentRead=True,
        ):
            out += [from_item(i) for i in page["Items"]]
        return out

    def record_sending(self, entry: OutboxEntry, body: str, epoch: int) -> OutboxEntry:
        """Keep the body an entry is published with, and when it is first sent, in one write
        before the first Publish. If another publisher kept them first, theirs win: every
        publish of one message id sends the same bytes, and the window counts from the first."""
        now = self.clock.now()
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._log_key(entry),
                UpdateExpression="SET body = :body, sending_at = :at, sending_epoch = :epoch",
                ConditionExpression="attribute_exists(run_key) AND attribute_not_exists(body)",
                ExpressionAttributeValues={
                    ":body": {"S": body},
                    ":at": {"S": utc_iso(now)},
                    ":epoch": {"N": str(epoch)},
                },
            )
            return replace(entry, body=body, sending_at=now, sending_epoch=epoch)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        item = self.ddb.get_item(
            TableName=self.table, Key=self._log_key(entry), ConsistentRead=True
        )["Item"]
        at, kept_epoch = item.get("sending_at"), item.get("sending_epoch")
        return replace(
            entry,
            body=item["body"]["S"],
            sending_at=parse_iso(at["S"]) if at else None,
            sending_epoch=int(kept_epoch["N"]) if kept_epoch else None,
        )

    def restamp_sending(self, entry: OutboxEntry, epoch: int) -> OutboxEntry:
        """An operator's step (a new epoch) starts the message's sends afresh; so does an entry
        kept before sends were stamped."""
        now = self.clock.now()
        self.ddb.update_item(
            TableName=self.table,
            Key=self._log_key(entry),
            UpdateExpression="SET sending_at = :at, sending_epoch = :epoch",
            ConditionExpression="attribute_exists(run_key)",
            ExpressionAttributeValues={":at": {"S": utc_iso(now)}, ":epoch": {"N": str(epoch)}},
        )
        return replace(entry, sending_at=now, sending_epoch=epoch)

    def mark_published(self, entry: OutboxEntry) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=self._log_key(entry),
            UpdateExpression="SET published_at = :at",
            ExpressionAttributeValues={":at": {"S": utc_iso(self.clock.now())}},
        )

    def advance_published(self, run_key: str, sequence: int) -> None:
        """Every announcement up to `sequence` is published; only ever moves forward. Written
        once per batch: entries marked published past it are skipped, never sent again. When
        that is the last recorded one, the same write takes the run out of the `owing` index;
        a transition recording a new one meanwhile fails that condition, so the run stays."""
        caught_up = (
            "SET published_sequence = :seq REMOVE #owes",
            "published_sequence <= :seq AND #sequence <= :seq",
            {"#owes": OWES_MESSAGES, "#sequence": "sequence"},
        )
        behind = ("SET published_sequence = :seq", "published_sequence < :seq", None)
        for expression, condition, names in (caught_up, behind):
            try:
                self.ddb.update_item(
                    TableName=self.runs_table,
                    Key={"run_key": {"S": run_key}},
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeValues={":seq": {"N": str(sequence)}},
                    **({"ExpressionAttributeNames": names} if names else {}),
                )
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def _log_key(self, entry: OutboxEntry) -> dict[str, Any]:
        return {
            "run_key": {"S": entry.run_key},
            "entry": {"S": entry_key(OUTBOX, entry.sequence)},
        }

    def amendment(self, run_key: str, number: int) -> list[str]:
        item = self.ddb.get_item(
            TableName=self.table,
            Key={"run_key": {"S": run_key}, "entry": {"S": entry_key(AMENDMENT, number)}},
            ConsistentRead=True,
        ).get("Item")
        return list(from_item(item).get("late_files", [])) if item else []
