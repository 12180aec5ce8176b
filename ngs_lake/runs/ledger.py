"""RunLedger: the one repository of the run tables on DynamoDB (runs, run files, run log, events).

Idempotent by overwrite, counts derived (ARCHITECTURE §5): per-file effects are plain puts keyed
by what they describe, written in BatchWriteItem calls, so a redelivered event overwrites itself
and file counts come from a Query, never from a counter. Lifecycle transitions follow the table
in `runs.model`: each is one TransactWriteItems that updates the run under its version and state
and puts what the step owes (an outbox entry, an amendment) into the run log, so a step and its
announcement are recorded together or not at all. The run log keeps the run item bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.dynamo_items import from_item, to_item
from ngs_lake.runs.model import (
    EventRecord,
    NewRun,
    Run,
    RunFile,
    RunState,
    Trigger,
    parse_iso,
    transition_for,
    utc_iso,
)
from ngs_lake.runs.run_log import RunLog, amendment_put, outbox_put

BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
BATCH_GET_KEYS = 100


def _version(f: RunFile) -> tuple[datetime, datetime]:
    """Which of two events for one path is newer: its modification, then its upload."""
    return (f.modified_at, f.uploaded_at)


class TransitionConflict(Exception):
    """The run was not in the expected state (or version): someone else moved it first."""


def _cancelled_by_condition(exc: ClientError) -> bool:
    """A transaction cancelled because one of its conditions failed (not a throttle or error).

    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
    """
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons


class RunLedger:
    def __init__(
        self, clients: AwsClients, names: LakeNames, events_ttl_days: int | None = None
    ) -> None:
        self.ddb = clients.dynamodb()
        self.names = names
        self.events_ttl_days = events_ttl_days
        self.log = RunLog(self.ddb, names)

    # Per-file and per-event effects: plain puts, batched

    def write_batch(self, files: Sequence[RunFile], events: Sequence[EventRecord]) -> int:
        """Put run files and event records; returns the number of BatchWriteItem calls made."""
        latest: dict[tuple[str, str], RunFile] = {}
        for f in files:  # within a batch, the latest modification of a path wins
            key = (f.run_key, f.path)
            if key not in latest or _version(f) >= _version(latest[key]):
                latest[key] = f
        # Across batches an older event for a rewritten file (redelivered, replayed or late)
        # may still overwrite a newer row: checking first would cost a read per batch on the
        # hot path. Verification settles it against the object's versions in S3 instead.
        requests = [(self.names.run_files_table, to_item(vars(f))) for f in latest.values()]
        expires = int(time.time()) + self.events_ttl_days * 86400 if self.events_ttl_days else None
        seen: set[str] = set()
        for e in events:
            if e.event_id not in seen:
                seen.add(e.event_id)
                item = to_item({**vars(e), "expires_at": expires})
                requests.append((self.names.events_table, item))
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

    def get_runs(self, run_keys: Iterable[str]) -> dict[str, Run]:
        keys = list(dict.fromkeys(run_keys))
        found: dict[str, Run] = {}
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
                    run = Run.model_validate(from_item(item))
                    found[run.run_key] = run
                request = answer.get("UnprocessedKeys") or {}
        return found

    def file_rows(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RunFile]:
        """The `run_files` rows the ledger holds for these (run key, path) pairs, read
        consistently: what a batch of events would change."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], RunFile] = {}
        table = self.names.run_files_table
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            chunk = wanted[start : start + BATCH_GET_KEYS]
            keys_of = [{"run_key": {"S": r}, "path": {"S": p}} for r, p in chunk]
            request: dict[str, Any] = {table: {"Keys": keys_of, "ConsistentRead": True}}
            while request:
                answer = self.ddb.batch_get_item(RequestItems=request)
                for raw in answer["Responses"].get(table, []):
                    row = _run_file(from_item(raw))
                    found[(row.run_key, row.path)] = row
                request = answer.get("UnprocessedKeys") or {}
        return found

    def get_run(self, run_key: str) -> Run | None:
        item = self.ddb.get_item(
            TableName=self.names.runs_table, Key={"run_key": {"S": run_key}}, ConsistentRead=True
        ).get("Item")
        return Run.model_validate(from_item(item)) if item else None

    def require_run(self, run_key: str) -> Run:
        run = self.get_run(run_key)
        if run is None:
            raise LookupError(f"run {run_key} is not in the ledger")
        return run

    def start_run(self, run: NewRun) -> bool:
        """The first transition: create the run as STARTED with `run.started` owed, once.

        False if the run already exists.
        """
        row = transition_for(None, Trigger.FIRST_FILE)
        item = {
            **vars(run),
            "state": row.target.value,
            "last_activity_at": run.started_at,
            "recorded_at": utc_iso(),
            "version": 1,
            "sequence": 1,
            "published_sequence": 0,
            "steps": {row.target.value: run.started_at},
        }
        assert row.announces is not None
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.names.runs_table,
                            "Item": to_item(item),
                            "ConditionExpression": "attribute_not_exists(run_key)",
                        }
                    },
                    outbox_put(self.names.run_log_table, run.run_key, 1, row.announces, 1, {}),
                ]
            )
            return True
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                return False
            raise

    def touch(self, activity: dict[str, datetime]) -> int:
        """Last activity per run: one UpdateItem per run per tick. It only ever moves forward,
        so a replayed or late event never makes a run look older than it is."""
        for run_key, moment in activity.items():
            try:
                self.ddb.update_item(
                    TableName=self.names.runs_table,
                    Key={"run_key": {"S": run_key}},
                    UpdateExpression="SET last_activity_at = :t",
                    ConditionExpression="attribute_exists(run_key) AND last_activity_at < :t",
                    ExpressionAttributeValues={":t": {"S": utc_iso(moment)}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return len(activity)

    def record_marker(self, run_key: str, key: str, seen_at: datetime) -> bool:
        """Keep a completion marker on a run that cannot take the MARKER step now (it needs
        attention, say), so the step is taken when it can (`RunProgress.move_marked`). The
        first marker stays; False if the run already had one or does not exist."""
        try:
            self.ddb.update_item(
                TableName=self.names.runs_table,
                Key={"run_key": {"S": run_key}},
                UpdateExpression="SET marker_key = :k, marker_seen_at = :t",
                ConditionExpression=(
                    "attribute_exists(run_key) AND attribute_not_exists(marker_key)"
                ),
                ExpressionAttributeValues={":k": {"S": key}, ":t": {"S": utc_iso(seen_at)}},
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False

    def record_publish_failure(self, run: Run, key: str) -> None:
        """One more failed attempt at the announcement work `key` (counted afresh for a new
        key). Not a transition: the run's state and version stay as they are."""
        failure = run.publish_failure
        count = failure.count + 1 if failure is not None and failure.key == key else 1
        value = {"key": key, "count": count, "at": utc_iso()}
        self.ddb.update_item(
            TableName=self.names.runs_table,
            Key={"run_key": {"S": run.run_key}},
            UpdateExpression="SET publish_failure = :f",
            ConditionExpression="attribute_exists(run_key)",
            ExpressionAttributeValues=to_item({":f": value}),
        )

    def apply(
        self,
        run: Run,
        trigger: Trigger,
        fields: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        late_paths: Sequence[str] = (),
        unchanged: Sequence[str] = (),
    ) -> None:
        """Move `run` by `trigger`, as the transition table says, in one transaction: the run's
        new state under its version, and the announcement (and amendment) the step owes.
        `unchanged`: fields that are not versioned (last activity) and must still hold the
        value read, for a step decided from them.

        TransitionConflict if the run moved meanwhile; TransitionNotAllowed if the table has
        no such step from the run's state.
        """
        row = transition_for(run.state, trigger)
        # `None`: back to where the run needed attention; the run remembers where it was.
        target = row.target or run.attention_from or RunState.STARTED
        values: dict[str, Any] = {**(fields or {}), "state": target.value}
        if target == RunState.NEEDS_ATTENTION:
            values["attention_from"] = run.state.value
        values["version"] = run.version + 1
        occurrence = 1
        if row.counter:
            occurrence = run.counter(row.counter) + 1
            values[row.counter] = occurrence
        items: list[dict[str, Any]] = []
        if row.announces is not None:
            values["sequence"] = run.sequence + 1
            items.append(
                outbox_put(
                    self.names.run_log_table,
                    run.run_key,
                    run.sequence + 1,
                    row.announces,
                    occurrence,
                    details or {},
                )
            )
        if trigger == Trigger.LATE_FILES:
            items.append(
                amendment_put(self.names.run_log_table, run.run_key, occurrence, late_paths)
            )
        items.insert(0, self._run_update(run, values, target != run.state, unchanged))
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                raise TransitionConflict(
                    f"{run.run_key}: no longer {run.state.value} at version {run.version}"
                ) from None
            raise

    def _run_update(
        self, run: Run, values: dict[str, Any], new_step: bool, unchanged: Sequence[str] = ()
    ) -> dict[str, Any]:
        """SET each field (REMOVE one set to None), under the run's version and state (and the
        `unchanged` fields' values as read)."""
        names = {"#state": "state"}
        sets, removes = [], []
        placeholders: dict[str, Any] = {}
        for index, (name, value) in enumerate(values.items()):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                sets.append(f"#f{index} = :f{index}")
                placeholders[f":f{index}"] = value
        if new_step:
            names |= {"#steps": "steps", "#step": values["state"]}
            sets.append("#steps.#step = :at")
            placeholders[":at"] = utc_iso()
        placeholders |= {":version": run.version, ":current": run.state.value}
        condition = "version = :version AND #state = :current"
        for index, name in enumerate(unchanged):
            names[f"#u{index}"] = name
            placeholders[f":u{index}"] = getattr(run, name)
            condition += f" AND #u{index} = :u{index}"
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return {
            "Update": {
                "TableName": self.names.runs_table,
                "Key": {"run_key": {"S": run.run_key}},
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(placeholders),
            }
        }

    # Queries

    def files(self, run_key: str) -> list[RunFile]:
        out: list[RunFile] = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.names.run_files_table,
            KeyConditionExpression="run_key = :r",
            ExpressionAttributeValues={":r": {"S": run_key}},
            ConsistentRead=True,
        ):
            out += [_run_file(from_item(raw)) for raw in page["Items"]]
        return out

    def file_count(self, run_key: str) -> int:
        total = 0
        for page in self.ddb.get_paginator("query").paginate(
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
    ) -> list[Run]:
        condition = "#a = :v"
        names = {"#a": attribute}
        values: dict[str, Any] = {":v": {"S": value}}
        if range_attribute and since:
            condition += " AND #r >= :since"
            names["#r"] = range_attribute
            values[":since"] = {"S": since}
        out: list[Run] = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.names.runs_table,
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        ):
            out += [Run.model_validate(from_item(i)) for i in page["Items"]]
        return out

    def runs_in_state(self, state: RunState, active_since: str | None = None) -> list[Run]:
        """Runs in a state; with `active_since`, only those active since then (GSI range key)."""
        return self.runs_by("by-state", "state", state.value, "last_activity_at", active_since)

    def runs_of_sequencer(self, sequencer_id: str) -> list[Run]:
        return self.runs_by("by-sequencer", "sequencer_id", sequencer_id)

    def runs_at_site(self, site: str) -> list[Run]:
        return self.runs_by("by-site", "site", site)


def _run_file(item: dict[str, Any]) -> RunFile:
    return RunFile(
        run_key=item["run_key"],
        path=item["path"],
        size=int(item["size"]),
        modified_at=parse_iso(item["modified_at"]),
        event_id=item["event_id"],
        uploaded_at=parse_iso(item["uploaded_at"]),
    )
