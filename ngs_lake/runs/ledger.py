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
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.dynamo_items import to_item
from ngs_lake.runs.ledger_queries import LedgerQueries
from ngs_lake.runs.model import (
    MAX_REASON_CHARS,
    EventRecord,
    GatewayFailure,
    NewRun,
    Run,
    RunFile,
    RunState,
    Trigger,
    transition_for,
    utc_iso,
)
from ngs_lake.runs.run_log import (
    OWED,
    OWES_MESSAGES,
    RunLog,
    amendment_put,
    outbox_put,
)

OPERATOR_STEPS = frozenset(
    {Trigger.OPERATOR_ABORT, Trigger.OPERATOR_RETRY, Trigger.OPERATOR_REVERIFY}
)
BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem


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


class RunLedger(LedgerQueries):
    def __init__(
        self,
        clients: AwsClients,
        names: LakeNames,
        events_ttl_days: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`clock`: what the ledger stamps and what the lifecycle steps built on it read."""
        self.ddb = clients.dynamodb()
        self.names = names
        self.events_ttl_days = events_ttl_days
        self.clock = clock
        self.log = RunLog(self.ddb, names, clock)

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
        ttl = self.events_ttl_days
        expires = int(self.clock.now().timestamp()) + ttl * 86400 if ttl else None
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

    def start_run(self, run: NewRun) -> bool:
        """The first transition: create the run as STARTED with `run.started` owed, once.

        False if the run already exists.
        """
        row = transition_for(None, Trigger.FIRST_FILE)
        item = {
            **vars(run),
            "state": row.target.value,
            "last_activity_at": run.started_at,
            "recorded_at": utc_iso(self.clock.now()),
            "version": 1,
            "sequence": 1,
            "published_sequence": 0,
            OWES_MESSAGES: OWED,
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
                    outbox_put(
                        self.names.run_log_table,
                        run.run_key,
                        1,
                        row.announces,
                        1,
                        {},
                        utc_iso(self.clock.now()),
                    ),
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

    def record_publish_failure(
        self,
        run: Run,
        key: str,
        now: datetime | None = None,
        first_at: datetime | None = None,
        sequence: int | None = None,
    ) -> None:
        """One more failed attempt at the announcement work `key` (counted afresh for a new
        key), and when the message's first failure (or, given `first_at`, its first send) was,
        in any epoch: SNS's deduplication window counts from it (an operator's step clears it,
        `apply`). Not a transition: the run's state and version stay as they are."""
        failure, at = run.publish_failure, utc_iso(now or self.clock.now())
        value = {"key": key, "count": 1, "at": at, "first_at": at}
        # the message the pass stopped at
        value["sequence"] = sequence if sequence is not None else run.published_sequence + 1
        if failure is not None and failure.key == key:
            value["count"] = failure.count + 1
        if failure is not None and failure.sequence == value["sequence"]:
            value["first_at"] = utc_iso(failure.first)
        if first_at is not None and utc_iso(first_at) < value["first_at"]:
            value["first_at"] = utc_iso(first_at)
        self.ddb.update_item(
            TableName=self.names.runs_table,
            Key={"run_key": {"S": run.run_key}},
            UpdateExpression="SET publish_failure = :f",
            ConditionExpression="attribute_exists(run_key)",
            ExpressionAttributeValues=to_item({":f": value}),
        )

    def record_manifest(self, run_key: str, amendments: int) -> None:
        """The run's manifest is written with its first `amendments` amendments: that work is
        done (runs.tick owes it no more). Only ever moves forward; not a transition."""
        try:
            self.ddb.update_item(
                TableName=self.names.runs_table,
                Key={"run_key": {"S": run_key}},
                UpdateExpression="SET manifest_amendments = :n",
                ConditionExpression="attribute_exists(run_key) AND "
                "(attribute_not_exists(manifest_amendments) OR manifest_amendments < :n)",
                ExpressionAttributeValues={":n": {"N": str(amendments)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def record_gateway_failure(
        self, run: Run, call: str, code: str, message: str, now: datetime
    ) -> GatewayFailure:
        """One more failed Storage Gateway `call` for the run, in a row (counted afresh after
        another call, or an operator's reset). Not a transition: state and version stay."""
        failure = run.gateway_failure
        same = failure is not None and (failure.call, failure.epoch) == (
            call,
            run.attention_count,
        )
        recorded = GatewayFailure(
            call=call,
            code=code,
            message=message[:MAX_REASON_CHARS],
            count=failure.count + 1 if failure is not None and same else 1,
            at=now,
            epoch=run.attention_count,
        )
        self.ddb.update_item(
            TableName=self.names.runs_table,
            Key={"run_key": {"S": run.run_key}},
            UpdateExpression="SET gateway_failure = :f",
            ConditionExpression="attribute_exists(run_key)",
            ExpressionAttributeValues=to_item({":f": recorded.model_dump()}),
        )
        return recorded

    def record_notification(self, run: Run, notification_id: str, now: datetime) -> bool:
        """The upload notification a MARKER_SEEN run was owed, once its request succeeded
        (the first request failed at the gateway). False if the run moved or got one meanwhile.
        Not a transition: no step and no announcement."""
        try:
            self.ddb.update_item(
                TableName=self.names.runs_table,
                Key={"run_key": {"S": run.run_key}},
                UpdateExpression="SET notification_id = :n, notification_requested_at = :t "
                "REMOVE gateway_failure",
                ConditionExpression="#state = :seen AND attribute_not_exists(notification_id)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_item(
                    {
                        ":n": notification_id,
                        ":t": utc_iso(now),
                        ":seen": RunState.MARKER_SEEN.value,
                    }
                ),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def apply(
        self,
        run: Run,
        trigger: Trigger,
        fields: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        late_paths: Sequence[str] = (),
        unchanged: Sequence[str] = (),
        extra_items: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Move `run` by `trigger`, as the transition table says, in one transaction: the run's
        new state under its version, and the announcement (and amendment) the step owes.
        `unchanged`: fields that are not versioned (last activity) and must still hold the
        value read, for a step decided from them. `extra_items`: writes that stand or fall
        with the step (a sample sheet version's put, issue #31).

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
        if trigger in OPERATOR_STEPS:  # the operator's call: owed messages are tried afresh
            values["publish_failure"] = None
        occurrence = run.epoch  # what runs.model.message_id numbers a once-per-epoch type by
        if row.counter:
            occurrence = run.counter(row.counter) + 1
            values[row.counter] = occurrence
        items: list[dict[str, Any]] = []
        if row.announces is not None:
            values["sequence"] = run.sequence + 1
            values[OWES_MESSAGES] = OWED
            items.append(
                outbox_put(
                    self.names.run_log_table,
                    run.run_key,
                    run.sequence + 1,
                    row.announces,
                    occurrence,
                    details or {},
                    utc_iso(self.clock.now()),
                )
            )
        if trigger == Trigger.LATE_FILES:
            items.append(
                amendment_put(
                    self.names.run_log_table,
                    run.run_key,
                    occurrence,
                    late_paths,
                    utc_iso(self.clock.now()),
                )
            )
        items += extra_items
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
            placeholders[":at"] = utc_iso(self.clock.now())
        placeholders |= {":version": run.version, ":current": run.state.value}
        condition = "version = :version AND #state = :current"
        for index, name in enumerate(unchanged):
            names[f"#u{index}"] = name
            value = getattr(run, name)
            if value is None:
                condition += f" AND attribute_not_exists(#u{index})"
                continue
            placeholders[f":u{index}"] = value
            # A counter read as 0 may be an item written before the counter existed.
            missing = f"attribute_not_exists(#u{index}) OR " if value == 0 else ""
            condition += f" AND ({missing}#u{index} = :u{index})"
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
