"""What the run ledger is asked: runs by key (strongly consistent) and by index, a run's files
and their count. Kept apart from the writes in `runs.ledger`, whose RunLedger inherits them;
the by-state, by-sequencer and by-site indexes are eventually consistent, as every DynamoDB
GSI is (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html), so a step
that must see the latest state reads the run by its key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ngs_lake.config.names import LakeNames
from ngs_lake.runs.dynamo_items import from_item
from ngs_lake.runs.model import Run, RunFile, RunState, parse_iso
from ngs_lake.runs.run_log import OWED, OWES_MESSAGES, OWING_INDEX

BATCH_GET_KEYS = 100


class LedgerQueries:
    """The reads; `ddb` and `names` are set by RunLedger."""

    ddb: Any
    names: LakeNames

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

    def runs_owing_messages(self) -> list[Run]:
        """Every run with recorded, unpublished announcements, whatever its state or age (the
        sparse `owing` index: nothing to read when nothing is owed)."""
        return self.runs_by(OWING_INDEX, OWES_MESSAGES, OWED)

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
