"""The one-time move of outbox maps and amendments out of run items, into the run log.

Before the run log, a run item carried `outbox.<message_id>` entries and `amended_<n>` lists,
and grew with every announcement until DynamoDB's 400 KB limit stopped its updates. The move is
idempotent: entries are put by their key (a repeat overwrites itself), and the run item loses
the old attributes only after its entries are in the log, in the same transaction per run. It
may run while the sensor applies transitions, so it writes the run item as they do, under its
version (`migrate_run`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.dynamo_items import from_item, to_item
from ngs_lake.runs.ledger import _cancelled_by_condition
from ngs_lake.runs.model import RunEventType, message_id, utc_iso
from ngs_lake.runs.run_log import AMENDMENT, OUTBOX, OWED, OWES_MESSAGES, RunLog

log = logging.getLogger(__name__)

_AMENDED = re.compile(r"^amended_(\d+)$")
_OCCURRENCE = re.compile(r"#(\d+)$")
MAX_ITEMS_PER_TRANSACTION = 100  # DynamoDB's limit for TransactWriteItems
MIGRATION_ATTEMPTS = 5


@dataclass
class LegacyRuns:
    to_migrate: list[str] = field(default_factory=list)  # an outbox map or amendment lists
    unmarked: list[str] = field(default_factory=list)  # owe messages, not in the `owing` index


def legacy_runs(clients: AwsClients, names: LakeNames) -> LegacyRuns:
    """One scan: the runs that still hold an outbox map or an amendment list, and the runs
    recorded before the `owing` index that owe messages without its marker (the tick finds
    owed messages through it alone once their run is older than two days)."""
    found = LegacyRuns()
    paginator = clients.dynamodb().get_paginator("scan")
    for page in paginator.paginate(TableName=names.runs_table):
        for raw in page["Items"]:
            key = raw["run_key"]["S"]
            if _holds_legacy(raw):
                found.to_migrate.append(key)  # the migration sets the marker itself
            elif OWES_MESSAGES not in raw and _number(raw, "published_sequence") < _number(
                raw, "sequence"
            ):
                found.unmarked.append(key)
    return found


def _number(raw: dict[str, Any], name: str) -> int:
    return int(raw[name]["N"]) if name in raw else 0


def mark_owing(clients: AwsClients, names: LakeNames, run_key: str) -> None:
    """Put a run that owes messages into the `owing` index, if it still owes them (the same
    condition the ledger keeps: published_sequence behind sequence)."""
    try:
        clients.dynamodb().update_item(
            TableName=names.runs_table,
            Key={"run_key": {"S": run_key}},
            UpdateExpression="SET #owes = :owed",
            ConditionExpression="published_sequence < #seq",
            ExpressionAttributeNames={"#owes": OWES_MESSAGES, "#seq": "sequence"},
            ExpressionAttributeValues={":owed": {"S": OWED}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


class MigrationConflict(Exception):
    """The run moved (a transition landed) while it was being migrated; tried again."""


def migrate_run(
    clients: AwsClients, names: LakeNames, run_key: str, clock: Clock = SYSTEM_CLOCK
) -> int:
    """Move one run's outbox and amendments into the run log; returns the entries moved.

    The sensor may apply transitions meanwhile, so the run item is written like every
    transition, under the version read (and moved one on), in the transaction that puts the
    last entries; an entry never overwrites a different message at its sequence. On a
    conflict the run is read again and migrated from what it is then, at most
    MIGRATION_ATTEMPTS times; after that it is left for the next `provision --apply` (the
    plan still lists it), never half-written.
    """
    ddb = clients.dynamodb()
    for _ in range(MIGRATION_ATTEMPTS):
        raw = ddb.get_item(
            TableName=names.runs_table, Key={"run_key": {"S": run_key}}, ConsistentRead=True
        ).get("Item")
        if raw is None or not _holds_legacy(raw):
            return 0  # gone, or migrated meanwhile
        try:
            return _migrate(ddb, names, from_item(raw), utc_iso(clock.now()))
        except MigrationConflict:
            log.info("%s moved while it was migrated; reading it again", run_key)
    raise MigrationConflict(
        f"{run_key} moved {MIGRATION_ATTEMPTS} times while it was migrated; it keeps its "
        "outbox until the next `ngs-lake provision --apply`"
    )


def _holds_legacy(raw: dict[str, Any]) -> bool:
    return "outbox" in raw or any(_AMENDED.match(name) for name in raw)


def _migrate(ddb: Any, names: LakeNames, run: dict[str, Any], now: str) -> int:
    run_key = run["run_key"]
    logged = RunLog(ddb, names).outbox(run_key)  # entries transitions already put in the log
    outbox = _outbox_entries(run, now)
    numbers = [int(e["entry"].removeprefix(OUTBOX)) for e in outbox]
    last = max([*numbers, *(e.sequence for e in logged), int(run.get("sequence", 0))])
    recorded = {e["message_id"] for e in outbox} | {e.message_id for e in logged}
    owed = _owed_not_recorded(run, recorded, last, now)
    in_log = {e.message_id for e in logged}  # put there by an earlier try: kept as they are
    entries = [e for e in outbox if e["message_id"] not in in_log] + owed
    entries += _amendment_entries(run, now)
    published = _contiguous_published(
        (run.get("outbox") or {})
        | {e.message_id: {"sequence": e.sequence, "published_at": e.published_at} for e in logged}
    )
    sequence = last + len(owed)
    chunk = MAX_ITEMS_PER_TRANSACTION - 1
    for start in range(0, max(len(entries), 1), chunk):
        items = [_entry_put(names, entry) for entry in entries[start : start + chunk]]
        if start + chunk >= len(entries):
            items.append(_run_update(names, run, published, sequence))
        try:
            ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                raise MigrationConflict(run_key) from None
            raise
    return len(entries)


def _entry_put(names: LakeNames, entry: dict[str, Any]) -> dict[str, Any]:
    """An entry by its key; an outbox entry only over nothing or the same message, never over
    another one a transition recorded at that sequence meanwhile."""
    put: dict[str, Any] = {"TableName": names.run_log_table, "Item": to_item(entry)}
    if "message_id" in entry:
        put["ConditionExpression"] = "attribute_not_exists(run_key) OR message_id = :mid"
        put["ExpressionAttributeValues"] = {":mid": {"S": entry["message_id"]}}
    return {"Put": put}


def _run_update(
    names: LakeNames, run: dict[str, Any], published: int, sequence: int
) -> dict[str, Any]:
    """The run item without its outbox map and amendment lists, its sequences set, under the
    version read, as every transition writes it (runs.ledger)."""
    removed = ["outbox", *(name for name in run if _AMENDED.match(name))]
    owes = sequence > published
    version = run.get("version")
    update = "SET published_sequence = :p, #seq = :s, version = :next"
    if owes:
        update += f", {OWES_MESSAGES} = :owed"
    else:
        removed.append(OWES_MESSAGES)
    values = {
        ":p": {"N": str(published)},
        ":s": {"N": str(sequence)},
        ":next": {"N": str(int(version or 0) + 1)},
    } | ({":owed": {"S": OWED}} if owes else {})
    if version is not None:
        values[":v"] = {"N": str(version)}
    return {
        "Update": {
            "TableName": names.runs_table,
            "Key": {"run_key": {"S": run["run_key"]}},
            "UpdateExpression": update
            + " REMOVE "
            + ", ".join(f"#r{i}" for i in range(len(removed))),
            "ConditionExpression": "version = :v"
            if version is not None
            else "attribute_not_exists(version)",
            "ExpressionAttributeNames": {"#seq": "sequence"}
            | {f"#r{i}": name for i, name in enumerate(removed)},
            "ExpressionAttributeValues": values,
        }
    }


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
