"""The one-time move of outbox maps and amendments out of run items, into the run log.

Before the run log, a run item carried `outbox.<message_id>` entries and `amended_<n>` lists,
and grew with every announcement until DynamoDB's 400 KB limit stopped its updates. The move is
idempotent: entries are put by their key (a repeat overwrites itself), and the run item loses
the old attributes only after its entries are in the log, in the same transaction per run.
"""

from __future__ import annotations

import re
from typing import Any

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.dynamo_items import from_item, to_item
from ngs_lake.runs.model import RunEventType, message_id, utc_iso
from ngs_lake.runs.run_log import AMENDMENT, OUTBOX

_AMENDED = re.compile(r"^amended_(\d+)$")
_OCCURRENCE = re.compile(r"#(\d+)$")
MAX_ITEMS_PER_TRANSACTION = 100  # DynamoDB's limit for TransactWriteItems


def runs_to_migrate(clients: AwsClients, names: LakeNames) -> list[str]:
    """Run keys whose items still hold an outbox map or an amendment list."""
    keys = []
    paginator = clients.dynamodb().get_paginator("scan")
    for page in paginator.paginate(TableName=names.runs_table):
        for raw in page["Items"]:
            if "outbox" in raw or any(_AMENDED.match(name) for name in raw):
                keys.append(raw["run_key"]["S"])
    return keys


def migrate_run(
    clients: AwsClients, names: LakeNames, run_key: str, clock: Clock = SYSTEM_CLOCK
) -> int:
    """Move one run's outbox and amendments into the run log; returns the entries moved."""
    ddb = clients.dynamodb()
    now = utc_iso(clock.now())
    raw = ddb.get_item(
        TableName=names.runs_table, Key={"run_key": {"S": run_key}}, ConsistentRead=True
    ).get("Item")
    if raw is None:
        return 0
    run = from_item(raw)
    outbox = _outbox_entries(run, now)
    last = max((int(e["entry"].removeprefix(OUTBOX)) for e in outbox), default=0)
    owed = _owed_not_recorded(run, {e["message_id"] for e in outbox}, last, now)
    entries = outbox + owed + _amendment_entries(run, now)
    for start in range(0, len(entries), MAX_ITEMS_PER_TRANSACTION - 1):
        puts = [
            {"Put": {"TableName": names.run_log_table, "Item": to_item(entry)}}
            for entry in entries[start : start + MAX_ITEMS_PER_TRANSACTION - 1]
        ]
        ddb.transact_write_items(TransactItems=puts)
    published = _contiguous_published(run.get("outbox") or {})
    removed = ["outbox", *(name for name in run if _AMENDED.match(name))]
    ddb.update_item(
        TableName=names.runs_table,
        Key={"run_key": {"S": run_key}},
        UpdateExpression="SET published_sequence = :p, #seq = :s REMOVE "
        + ", ".join(f"#r{i}" for i in range(len(removed))),
        ExpressionAttributeNames={"#seq": "sequence"}
        | {f"#r{i}": name for i, name in enumerate(removed)},
        ExpressionAttributeValues={
            ":p": {"N": str(published)},
            ":s": {"N": str(last + len(owed))},
        },
    )
    return len(entries)


def _outbox_entries(run: dict[str, Any], now: str) -> list[dict[str, Any]]:
    out = []
    for mid, entry in (run.get("outbox") or {}).items():
        event_type = next(t for t in RunEventType if f"#{t.value}" in mid)
        occurrence = _OCCURRENCE.search(mid.rsplit(event_type.value, 1)[1])
        out.append(
            {
                "run_key": run["run_key"],
                "entry": f"{OUTBOX}{int(entry['sequence']):08d}",
                "message_id": mid,
                "event_type": event_type.value,
                "occurrence": int(occurrence.group(1)) if occurrence else 1,
                "details": {},
                "recorded_at": entry.get("recorded_at") or now,
                "body": entry.get("body"),
                "published_at": entry.get("published_at"),
            }
        )
    return out


def _owed_not_recorded(
    run: dict[str, Any], recorded: set[str], last: int, now: str
) -> list[dict[str, Any]]:
    """What the run's steps owed under the old model, which recorded a message only when its
    job ran: those not yet recorded are recorded now, after the others, so none is lost."""
    steps, key = run.get("steps") or {}, run["run_key"]
    owed: list[tuple[RunEventType, int]] = [(RunEventType.STARTED, 1)] if "STARTED" in steps else []
    stalled, resumed = int(run.get("stalled_count", 0)), int(run.get("resumed_count", 0))
    for n in range(1, stalled + 1):
        owed += [(RunEventType.STALLED, n)] + ([(RunEventType.RESUMED, n)] if n <= resumed else [])
    if "MARKER_SEEN" in steps:
        owed.append((RunEventType.COPY_COMPLETE, 1))
    owed += [(RunEventType.INCOMPLETE, n) for n in range(1, int(run.get("verify_attempts", 0)) + 1)]
    if run["state"] == "COMPLETED":
        owed.append((RunEventType.COMPLETED, 1))
        owed += [(RunEventType.AMENDED, n) for n in range(1, int(run.get("amended_count", 0)) + 1)]
    if run["state"] == "ABORTED":
        owed.append((RunEventType.ABORTED, 1))
    out = []
    for event_type, occurrence in owed:
        mid = message_id(key, event_type, occurrence)
        if mid not in recorded:
            last += 1
            out.append(
                {
                    "run_key": key,
                    "entry": f"{OUTBOX}{last:08d}",
                    "message_id": mid,
                    "event_type": event_type.value,
                    "occurrence": occurrence,
                    "details": {},
                    "recorded_at": now,
                }
            )
    return out


def _amendment_entries(run: dict[str, Any], now: str) -> list[dict[str, Any]]:
    out = []
    for name, paths in run.items():
        match = _AMENDED.match(name)
        if match:
            out.append(
                {
                    "run_key": run["run_key"],
                    "entry": f"{AMENDMENT}{int(match.group(1)):08d}",
                    "late_files": list(paths),
                    "late_file_count": len(paths),
                    "recorded_at": now,
                }
            )
    return out


def _contiguous_published(outbox: dict[str, Any]) -> int:
    """Every message up to this sequence is published (the run's `published_sequence`)."""
    published = {int(e["sequence"]) for e in outbox.values() if e.get("published_at")}
    n = 0
    while n + 1 in published:
        n += 1
    return n
