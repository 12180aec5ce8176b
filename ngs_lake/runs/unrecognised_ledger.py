"""The `<prefix>-unrecognised-folders` table (pk sequencer_id, sk folder): the candidates ingest
records and the alert pass and `status` judge (rules in runs/unrecognised.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.dynamo_items import from_item, to_item
from ngs_lake.runs.unrecognised import StrayObject, UnrecognisedFolder, candidates


class UnrecognisedFolders:
    """Candidates kept one item each; first sightings never move later."""

    def __init__(self, clients: AwsClients, names: LakeNames) -> None:
        self.ddb = clients.dynamodb()
        self.table = names.unrecognised_folders_table
        self.runs_table = names.runs_table

    def record(self, strays: Sequence[StrayObject]) -> int:
        """Keep each candidate, its first sighting never moved later; the writes made."""
        found = candidates(strays)
        for folder in found:
            self.ddb.update_item(
                TableName=self.table,
                Key=to_item({"sequencer_id": folder.sequencer_id, "folder": folder.folder}),
                UpdateExpression=(
                    "SET first_seen = if_not_exists(first_seen, :seen), "
                    "platform = :platform, example_key = if_not_exists(example_key, :key), "
                    "reason = if_not_exists(reason, :reason)"
                ),
                ExpressionAttributeValues=to_item(
                    {
                        ":seen": folder.first_seen,
                        ":platform": folder.platform,
                        ":key": folder.example_key,
                        ":reason": folder.reason,
                    }
                ),
            )
        return len(found)

    def all(self) -> list[UnrecognisedFolder]:
        out = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table):
            for raw in page["Items"]:
                item = from_item(raw)
                out.append(
                    UnrecognisedFolder(
                        item["sequencer_id"],
                        item["folder"],
                        item.get("platform", ""),
                        datetime.fromisoformat(item["first_seen"]),
                        item.get("example_key", ""),
                        item.get("reason", ""),
                    )
                )
        return sorted(out, key=lambda f: (f.sequencer_id, f.folder))

    def has_run_under(self, folder: UnrecognisedFolder) -> bool:
        """Whether the ledger holds a run in or under this folder (by-sequencer index)."""
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.runs_table,
            IndexName="by-sequencer",
            KeyConditionExpression="sequencer_id = :s",
            FilterExpression="run_folder = :f OR begins_with(run_folder, :under)",
            ExpressionAttributeValues=to_item(
                {":s": folder.sequencer_id, ":f": folder.folder, ":under": f"{folder.folder}/"}
            ),
            ProjectionExpression="run_key",
        )
        return any(page["Items"] for page in pages)

    def forget(self, folder: UnrecognisedFolder) -> None:
        self.ddb.delete_item(
            TableName=self.table,
            Key=to_item({"sequencer_id": folder.sequencer_id, "folder": folder.folder}),
        )

    def unrecognised(
        self, drained_from: Mapping[str, datetime], prune: bool = False
    ) -> list[UnrecognisedFolder]:
        """The settled candidates with no run under them (`drained_from`: per sequencer, from
        runs/watermarks.py); `prune` drops those that turned out to be a run's parent folder
        (the alert pass does; `status` only reads)."""
        out = []
        for folder in self.all():
            if not folder.settled(drained_from.get(folder.sequencer_id)):
                continue
            if self.has_run_under(folder):
                if prune:
                    self.forget(folder)
                continue
            out.append(folder)
        return out
